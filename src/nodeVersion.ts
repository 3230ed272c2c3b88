/**
 * The Node.js version adnotify runs on, checked by the executable before anything native is
 * loaded: under Node 20, better-sqlite3 13 kills the process with SIGSEGV and no word of why.
 * No imports, so that it can run first.
 */

/** package.json "engines": keep the two alike (a test checks). */
export const MINIMUM_NODE = '22.12.0';

/** A one-line explanation when `version` ("20.20.2") is older than {@link MINIMUM_NODE}, else null. */
export function nodeTooOld(version: string): string | null {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const need = MINIMUM_NODE.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a > b) return null;
    if (a < b) {
      return `adnotify needs Node.js ${MINIMUM_NODE} or later, but runs on ${version.replace(/^v/, '')}: install Node 22 or 24 LTS (https://nodejs.org/en/download, or NodeSource packages for Debian/Ubuntu) and run adnotify with it.`;
    }
  }
  return null;
}
