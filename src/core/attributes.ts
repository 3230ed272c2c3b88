/**
 * Attributes whose changes are noise: they change on logon, on replication, or are
 * back-links (memberOf changes without bumping the user; membership events come from
 * the groups' `member`). Never stored in the snapshot, never diffed.
 */
export const BUILTIN_IGNORED_ATTRIBUTES: readonly string[] = [
  'lastLogon',
  'lastLogonTimestamp',
  'lastLogoff',
  'logonCount',
  'badPwdCount',
  'badPasswordTime',
  'lockoutTime',
  'uSNChanged',
  'uSNCreated',
  'whenChanged',
  'dSCorePropagationData',
  'replPropertyMetaData',
  'replUpToDateVector',
  'msDS-LastSuccessfulInteractiveLogonTime',
  'msDS-LastFailedInteractiveLogonTime',
  'msDS-FailedInteractiveLogonCount',
  'msDS-FailedInteractiveLogonCountAtLastSuccessfulLogon',
  // Back-links: they change when another object changes, without bumping this one.
  'memberOf',
  'directReports',
  'managedObjects',
  'msExchCoManagedObjectsBL',
  'msDS-MembersForAzRoleBL',
  'msDS-OIDToGroupLinkBl',
  'isPrivilegeHolder',
  'distinguishedName',
  'objectGUID',
  'objectClass',
  'member',
];

/** Case-insensitive set of attribute names (LDAP attribute names are case-insensitive). */
export class AttributeSet {
  readonly #names: Set<string>;

  constructor(names: Iterable<string>) {
    this.#names = new Set([...names].map((n) => n.toLowerCase()));
  }

  has(name: string): boolean {
    return this.#names.has(name.toLowerCase());
  }

  /** A new set with `names` added. */
  with(...names: string[]): AttributeSet {
    return new AttributeSet([...this.#names, ...names]);
  }
}
