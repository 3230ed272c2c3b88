/**
 * Writing to the test directory as an administrator would: OUs, users, groups, contacts.
 * Shared by the tests (each in its own OU) and the demo.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { Attribute, Change, Client } from 'ldapts';

import type { SambaInfo } from './samba.js';

/** One day in the 100 ns units of msDS-MaximumPasswordAge. */
export const PSO_DAY = 864_000_000_000;

export class DirectoryAdmin {
  readonly client: Client;
  readonly baseDN: string;

  private constructor(client: Client, baseDN: string) {
    this.client = client;
    this.baseDN = baseDN;
  }

  /** Binds as the DC's administrator, or as `as` (a delegated operator, say). */
  static async connect(samba: SambaInfo, as?: { dn: string; password: string }): Promise<DirectoryAdmin> {
    const client = new Client({
      url: samba.url,
      timeout: 30_000,
      connectTimeout: 5_000,
      tlsOptions: { ca: readFileSync(samba.caFile) },
    });
    await client.bind(as?.dn ?? samba.bindDN, as?.password ?? samba.password);
    return new DirectoryAdmin(client, samba.baseDN);
  }

  async ou(name: string, parent = this.baseDN): Promise<string> {
    const dn = `OU=${name},${parent}`;
    await this.client.add(dn, { objectClass: ['top', 'organizationalUnit'], ou: name });
    return dn;
  }

  /**
   * A mail-enabled, enabled user (a user without a password is disabled in AD) named `name`,
   * with a unique sAMAccountName; `mail` null for one without mail.
   */
  person(
    parent: string,
    name: string,
    attrs: Record<string, string | string[]> = {},
    mail: string | null = `${name.toLowerCase()}@example.test`,
  ): Promise<string> {
    return this.user(
      parent,
      `${name}${randomUUID().slice(-6)}`.slice(0, 20),
      { displayName: name, ...(mail === null ? {} : { mail }), ...attrs },
      { password: 'Str0ng!Passw0rd' },
    );
  }

  async user(
    parent: string,
    sam: string,
    attrs: Record<string, string | string[]> = {},
    options: {
      password?: string;
      /** The RDN value, escaped (RFC 4514). default: displayName or sam */ cn?: string;
    } = {},
  ): Promise<string> {
    const display = attrs['displayName'];
    const dn = `CN=${options.cn ?? (typeof display === 'string' ? display : sam)},${parent}`;
    await this.client.add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      sAMAccountName: sam,
      userPrincipalName: `${sam}@example.test`,
      ...attrs,
    });
    if (options.password !== undefined) {
      await this.client.modify(dn, [
        new Change({
          operation: 'replace',
          modification: new Attribute({
            type: 'unicodePwd',
            values: [Buffer.from(`"${options.password}"`, 'utf16le')],
          }),
        }),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userAccountControl', values: ['512'] }),
        }),
      ]);
    }
    return dn;
  }

  /**
   * A fine-grained password policy (PSO) for `appliesTo`: no complexity, no history, no
   * lockout, a 42-day maximum age, unless `settings` says otherwise. Returns its DN.
   */
  async passwordSettings(appliesTo: string[], settings: Record<string, string> = {}): Promise<string> {
    const dn = `CN=pso-${randomUUID()},CN=Password Settings Container,CN=System,${this.baseDN}`;
    await this.client.add(dn, {
      objectClass: 'msDS-PasswordSettings',
      'msDS-PasswordSettingsPrecedence': '1',
      'msDS-PasswordReversibleEncryptionEnabled': 'FALSE',
      'msDS-PasswordHistoryLength': '0',
      'msDS-PasswordComplexityEnabled': 'FALSE',
      'msDS-MinimumPasswordLength': '0',
      'msDS-MinimumPasswordAge': '0',
      'msDS-MaximumPasswordAge': String(-42 * PSO_DAY),
      'msDS-LockoutThreshold': '0',
      'msDS-LockoutObservationWindow': '-18000000000',
      'msDS-LockoutDuration': '-18000000000',
      ...settings,
      'msDS-PSOAppliesTo': appliesTo,
    });
    return dn;
  }

  async group(parent: string, name: string, attrs: Record<string, string | string[]> = {}): Promise<string> {
    const dn = `CN=${name},${parent}`;
    await this.client.add(dn, { objectClass: ['top', 'group'], sAMAccountName: name, ...attrs });
    return dn;
  }

  async contact(
    parent: string,
    name: string,
    attrs: Record<string, string | string[]> = {},
  ): Promise<string> {
    const dn = `CN=${name},${parent}`;
    await this.client.add(dn, {
      objectClass: ['top', 'person', 'organizationalPerson', 'contact'],
      ...attrs,
    });
    return dn;
  }

  async addMembers(group: string, members: string[]): Promise<void> {
    // Large groups in chunks: one modify with thousands of values is slow on Samba.
    for (let i = 0; i < members.length; i += 500) {
      await this.client.modify(
        group,
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'member', values: members.slice(i, i + 500) }),
        }),
      );
    }
  }

  async removeMembers(group: string, members: string[]): Promise<void> {
    await this.modify(group, 'delete', 'member', members);
  }

  async modify(
    dn: string,
    operation: 'add' | 'replace' | 'delete',
    type: string,
    values: (string | Buffer)[],
  ): Promise<void> {
    await this.client.modify(
      dn,
      new Change({ operation, modification: new Attribute({ type, values: values as string[] }) }),
    );
  }

  /** Renames and/or moves `dn` to `newDN` (modrdn with newSuperior). */
  async move(dn: string, newDN: string): Promise<string> {
    await this.client.modifyDN(dn, newDN);
    return newDN;
  }

  async delete(dn: string): Promise<void> {
    await this.client.del(dn);
  }

  async hcu(): Promise<bigint> {
    const { searchEntries } = await this.client.search('', {
      scope: 'base',
      attributes: ['highestCommittedUSN'],
    });
    return BigInt(String(searchEntries[0]?.['highestCommittedUSN']));
  }

  /** objectGUID of `dn` in canonical form, read independently of adnotify's code. */
  async guidOf(dn: string): Promise<string> {
    const { searchEntries } = await this.client.search(dn, {
      scope: 'base',
      attributes: ['objectGUID'],
      explicitBufferAttributes: ['objectGUID'],
    });
    const raw = searchEntries[0]?.['objectGUID'];
    if (!Buffer.isBuffer(raw)) throw new Error(`no objectGUID for ${dn}`);
    // Independent of formatGuid: the same layout via the Windows GUID structure fields.
    const hex = (b: Buffer) => b.toString('hex');
    const le = (start: number, len: number) => hex(Buffer.from(raw.subarray(start, start + len)).reverse());
    return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(raw.subarray(8, 10))}-${hex(raw.subarray(10, 16))}`;
  }

  async close(): Promise<void> {
    await this.client.unbind();
  }
}
