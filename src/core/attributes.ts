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
  // Every routine password change sets it: mailing it would tell managers and the helpdesk of
  // each one. Expiry reminders read msDS-UserPasswordExpiryTimeComputed instead.
  'pwdLastSet',
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

/**
 * Attributes that hold secrets (passwords, LAPS, gMSA): always redacted, merged with
 * directory.attributes.redact. Their values are never stored in clear, mailed, logged or
 * shown; a change is reported as "changed".
 */
export const BUILTIN_SECRET_ATTRIBUTES: readonly string[] = [
  'userPassword',
  'unixUserPassword',
  'msSFU30Password',
  'ms-Mcs-AdmPwd',
  'msLAPS-Password',
  'msLAPS-EncryptedPassword',
  'msLAPS-EncryptedDSRMPassword',
  'msLAPS-EncryptedPasswordHistory',
  'msLAPS-EncryptedDSRMPasswordHistory',
  'msDS-ManagedPassword',
  'supplementalCredentials',
  'unicodePwd',
  'dBCSPwd',
  'ntPwdHistory',
  'lmPwdHistory',
  // The TPM owner password and BitLocker recovery passwords backed up to AD.
  'msTPM-OwnerInformation',
  'msFVE-RecoveryPassword',
  // Trust passwords (trustedDomain objects) and LSA secrets (secret objects).
  'trustAuthIncoming',
  'trustAuthOutgoing',
  'currentValue',
  'priorValue',
];

/** Case-insensitive set of attribute names (LDAP attribute names are case-insensitive). */
export class AttributeSet {
  readonly #names: Set<string>;
  /**
   * Answers by name as given: a directory uses a few hundred names, each asked about for every
   * object of a cycle, and lower-casing them every time was a share of a cycle's garbage.
   */
  readonly #answers = new Map<string, boolean>();

  constructor(names: Iterable<string>) {
    this.#names = new Set([...names].map((n) => n.toLowerCase()));
  }

  has(name: string): boolean {
    let answer = this.#answers.get(name);
    if (answer === undefined) {
      answer = this.#names.has(name.toLowerCase());
      // Bounded: names come from the schema, but a hostile or broken server could vary them.
      if (this.#answers.size < 10_000) this.#answers.set(name, answer);
    }
    return answer;
  }

  /** A new set with `names` added. */
  with(...names: string[]): AttributeSet {
    return new AttributeSet([...this.#names, ...names]);
  }
}
