/** Where the state is, for messages: the URL without its password. Free of `pg`, so loading it costs nothing. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'the configured state.url (not a valid URL)';
  }
}
