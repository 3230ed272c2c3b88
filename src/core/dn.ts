/**
 * Distinguished names as adnotify needs them: is one beneath another, and where does a DN
 * land when an ancestor is renamed or moved. Comparison is case-insensitive, as in LDAP;
 * the DNs compared here all come from the same server, so no further normalisation is needed.
 */

/** True when `dn` is `base` or lies beneath it. */
export function isWithin(dn: string, base: string): boolean {
  const d = dn.toLowerCase();
  const b = base.toLowerCase();
  return d === b || d.endsWith(`,${b}`);
}

/** True when `dn` lies strictly beneath `base`. */
export function isBeneath(dn: string, base: string): boolean {
  return dn.toLowerCase().endsWith(`,${base.toLowerCase()}`);
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

export function sameDn(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
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
