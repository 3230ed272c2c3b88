/**
 * Distinguished names as adnotify needs them: is one beneath another, and where does a DN
 * land when an ancestor is renamed or moved. Comparison is case-insensitive, as in LDAP;
 * DNs from the server are compared as they are, a DN from the config (directory.baseDN,
 * notify.protectedGroupsExtra) also in normalised form (spaces, escapes).
 */

/**
 * True when `d` ends with the RDNs of `b` (both in one case): `b` follows a comma that is an
 * RDN boundary, not an escaped comma inside a value (`OU=Evil\,OU=Staff` is one RDN).
 */
function endsWithRdns(d: string, b: string): boolean {
  if (!d.endsWith(`,${b}`)) return false;
  let backslashes = 0;
  for (let i = d.length - b.length - 2; i >= 0 && d.charAt(i) === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** True when `dn` is `base` or lies beneath it. */
export function isWithin(dn: string, base: string): boolean {
  const d = dn.toLowerCase();
  const b = base.toLowerCase();
  if (d === b || endsWithRdns(d, b)) return true;
  // The server writes DNs one way (no spaces after commas); a base from the config may not
  // ("OU=Staff, DC=example, DC=com"): then compare normalised forms.
  const nb = normalizedBase(base);
  if (nb === b) return false;
  const nd = normalizeDn(dn);
  return nd === nb || endsWithRdns(nd, nb);
}

/** normalizeDn of the last base asked about: isWithin runs once per entry with one base. */
let lastBase: { base: string; normal: string } | undefined;
function normalizedBase(base: string): string {
  if (lastBase?.base !== base) lastBase = { base, normal: normalizeDn(base) };
  return lastBase.normal;
}

/** True when `dn` lies strictly beneath `base`. */
export function isBeneath(dn: string, base: string): boolean {
  return endsWithRdns(dn.toLowerCase(), base.toLowerCase());
}

/** `dn` with the ancestor `from` replaced by `to`; unchanged when `from` is not an ancestor. */
export function rebase(dn: string, from: string, to: string): string {
  if (!isBeneath(dn, from)) return dn;
  return `${dn.slice(0, dn.length - from.length)}${to}`;
}

export interface ContainerRename {
  from: string;
  to: string;
}

/** Applies a cycle's container renames, in the order they were seen, to a stored DN. */
export function rebaseAll(dn: string, renames: readonly ContainerRename[]): string {
  return renames.reduce((current, rename) => rebase(current, rename.from, rename.to), dn);
}

/**
 * Undoes {@link rebaseAll}: the DN a stored DN had before the cycle's container renames moved
 * it (the snapshot follows a renamed OU at once, whatever order the server returns entries in).
 */
export function unrebaseAll(dn: string, renames: readonly ContainerRename[]): string {
  return renames.reduceRight((current, rename) => rebase(current, rename.to, rename.from), dn);
}

export function sameDn(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || normalizeDn(a) === normalizeDn(b);
}

/** Characters escaped in a normalised attribute value (RFC 4514 section 2.4). */
const SPECIAL = new Set([',', '+', '"', '\\', '<', '>', ';', '=']);

/**
 * A DN in one canonical form for comparison (RFC 4514, as Active Directory compares them):
 * attribute types and values in lower case, no spaces around `,`, `+` and `=`, hex escapes
 * (`\2C`) decoded and special characters escaped one way. `OU=Staff, DC=Example,DC=com` and
 * `ou=staff,dc=example,dc=com` normalise alike. Not for display: the server's own spelling is.
 */
export function normalizeDn(dn: string): string {
  const rdns: string[] = [];
  let parts: string[] = [];
  let type = '';
  let value = '';
  let inValue = false;
  /** Trailing spaces of the value so far that were written unescaped (dropped at the end). */
  let trailing = 0;
  const endValue = () => {
    parts.push(`${type.trim().toLowerCase()}=${canonicalValue(value.slice(0, value.length - trailing))}`);
    type = '';
    value = '';
    inValue = false;
    trailing = 0;
  };
  for (let i = 0; i < dn.length; i++) {
    const c = dn.charAt(i);
    if (!inValue) {
      if (c === '=') inValue = true;
      else type += c;
      continue;
    }
    if (c === '\\') {
      const hex = /^[0-9a-fA-F]{2}/.exec(dn.slice(i + 1, i + 3));
      if (hex) {
        // A run of hex escapes is UTF-8 bytes: decode them together.
        const bytes: number[] = [];
        let j = i;
        while (/^\\[0-9a-fA-F]{2}/.test(dn.slice(j, j + 3))) {
          bytes.push(parseInt(dn.slice(j + 1, j + 3), 16));
          j += 3;
        }
        value += new TextDecoder().decode(new Uint8Array(bytes));
        i = j - 1;
      } else if (i + 1 < dn.length) {
        value += dn.charAt(i + 1);
        i++;
      }
      trailing = 0;
      continue;
    }
    if (c === ',' || c === ';' || c === '+') {
      endValue();
      if (c !== '+') {
        rdns.push(parts.join('+'));
        parts = [];
      }
      continue;
    }
    if (c === ' ' && value === '') continue; // leading spaces of a value
    value += c;
    trailing = c === ' ' ? trailing + 1 : 0;
  }
  if (inValue || type.trim() !== '') endValue();
  if (parts.length > 0) rdns.push(parts.join('+'));
  return rdns.join(',');
}

function canonicalValue(value: string): string {
  const lower = value.toLowerCase();
  let out = '';
  for (let i = 0; i < lower.length; i++) {
    const ch = lower.charAt(i);
    const edge = (i === 0 && (ch === ' ' || ch === '#')) || (i === lower.length - 1 && ch === ' ');
    out += SPECIAL.has(ch) || edge ? `\\${ch}` : ch;
  }
  return out;
}

/**
 * The naming context holding `baseDN`: the longest of `contexts` that contains it, or
 * `baseDN` itself when none does. Tombstones move to CN=Deleted Objects at the root of the
 * naming context, and objects leave an OU by moving elsewhere in it, so the change search
 * starts there.
 */
export function namingContextOf(baseDN: string, contexts: readonly string[]): string {
  let best: string | undefined;
  for (const context of contexts) {
    if (isWithin(baseDN, context) && (best === undefined || context.length > best.length)) best = context;
  }
  return best ?? baseDN;
}

/**
 * The change search of one cycle: watched objects, tombstones (read with Show Deleted), and
 * OUs and containers (a rename of one changes its descendants' DNs without bumping them),
 * changed in (since, upTo]. USNs are 64-bit integers, written in decimal.
 */
/**
 * The objects changed in (since, upTo] that do not match the scope filter: among them, those
 * the snapshot holds have stopped matching it (a department changed) and leave the scope.
 */
export function leftFilter(scopeFilter: string, since: bigint, upTo: bigint): string {
  return `(&(uSNChanged>=${since + 1n})(uSNChanged<=${upTo})(!${scopeFilter}))`;
}

export function changeFilter(scopeFilter: string, since: bigint, upTo: bigint): string {
  return (
    `(&(uSNChanged>=${since + 1n})(uSNChanged<=${upTo})` +
    `(|${scopeFilter}(isDeleted=TRUE)(objectClass=organizationalUnit)(objectClass=container)))`
  );
}

/** Every watched object and every container beneath the base: the baseline and resync read. */
export function fullReadFilter(scopeFilter: string): string {
  return `(|${scopeFilter}(objectClass=organizationalUnit)(objectClass=container))`;
}

/** A value as it may stand inside an LDAP filter (RFC 4515 escapes for \\ * ( ) and NUL). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
