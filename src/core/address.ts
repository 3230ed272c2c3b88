/**
 * Mail addresses read from the directory. Active Directory does not validate `mail`: it can
 * hold several addresses ("a@example.com, b@example.com"), a display name with the address,
 * or anything at all. Handed to nodemailer, such a string is parsed into whatever recipients
 * it contains, so a user who can edit a `mail` value could have adnotify mail people the
 * directory never named. Only a value that is exactly one plain address is used.
 */

const LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;

/** `value` when it is exactly one address (RFC 5321 dot-atom, with Unicode allowed), else null. */
export function mailAddress(value: string | null): string | null {
  if (value === null || value.length > 254) return null;
  const at = value.lastIndexOf('@');
  if (at < 1 || at !== value.indexOf('@')) return null;
  const local = value.slice(0, at);
  const labels = value.slice(at + 1).split('.');
  if (local.length > 64 || !LOCAL.test(local)) return null;
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  return value;
}

/**
 * The address of a mailbox as the config writes it, "Name <user@example.com>" or
 * "user@example.com"; null unless it holds exactly one valid address.
 */
export function mailboxAddress(value: string): string | null {
  const named = /^[^<>\r\n]*<([^<>]+)>$/.exec(value.trim());
  return mailAddress(named?.[1] ?? value.trim());
}
