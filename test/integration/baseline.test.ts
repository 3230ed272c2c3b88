import { statSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, tempDir, uniqueName, writeConfig } from '../support/cli.js';
import { DirectoryAdmin } from '../support/seed.js';
import { SmtpCapture } from '../support/smtpCapture.js';

const samba = sambaOrNull();

/** Plain code-unit order, the same for both sides of a comparison. */
const by =
  <K extends string>(key: K) =>
  (a: Partial<Record<K, string | undefined>>, b: Partial<Record<K, string | undefined>>) =>
    (a[key] ?? '') < (b[key] ?? '') ? -1 : (a[key] ?? '') > (b[key] ?? '') ? 1 : 0;

describe.skipIf(!samba)('adnotify once on an empty state takes the baseline (Samba AD DC)', () => {
  if (!samba) return;
  let admin: DirectoryAdmin;
  let smtp: SmtpCapture;
  let dir: string;
  let config: string;
  const env = { TEST_BIND_PASSWORD: samba.password };
  const dn: Record<string, string> = {};

  beforeAll(async () => {
    admin = await DirectoryAdmin.connect(samba);
    smtp = await SmtpCapture.start();
    const ou = await admin.ou(uniqueName('baseline'));
    const staff = await admin.ou('Staff', ou);
    dn['ou'] = ou;
    dn['boss'] = await admin.user(
      staff,
      'bl-boss',
      { displayName: 'Bea Boss', mail: 'bea@example.test' },
      { password: 'Str0ng!Passw0rd' },
    );
    dn['alice'] = await admin.user(staff, 'bl-alice', {
      displayName: 'Alice Smith',
      mail: 'alice@example.test',
      manager: dn['boss'],
      telephoneNumber: ['+1 555 0100'],
    });
    dn['contact'] = await admin.contact(ou, 'Carl Contact', { mail: 'carl@example.org' });
    dn['group'] = await admin.group(ou, 'bl-team', {
      managedBy: dn['boss'],
      msExchCoManagedByLink: dn['alice'],
    });
    // A member outside the watched scope (the baseDN is our OU): the domain's Administrator.
    dn['admin'] = `CN=Administrator,CN=Users,${samba.baseDN}`;
    await admin.addMembers(dn['group'], [dn['alice'], dn['contact'], dn['admin']]);
    dir = tempDir();
    config = writeConfig(dir, samba, { baseDN: ou, smtpPort: smtp.port });
  });

  afterAll(async () => {
    await admin.close();
    await smtp.stop();
  });

  it('stores every watched object by GUID with its memberships and sends no mail', async () => {
    const result = await runCli(['--config', config, 'once'], env);
    expect(result.stderr).not.toMatch(/"level":"error"/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^baseline: 4 objects \(1 groups, 3 memberships\), 2 containers, cursor \d+, [\d.]+ s; no mail sent$/m,
    );

    const db = new Database(join(dir, 'state', 'adnotify.db'), { readonly: true });
    const objects = (
      db.prepare('SELECT guid, dn, class FROM objects').all() as { guid: string; dn: string; class: string }[]
    ).sort(by('dn'));
    expect(objects).toEqual(
      [
        { guid: await admin.guidOf(dn['group'] ?? ''), dn: dn['group'], class: 'group' },
        { guid: await admin.guidOf(dn['contact'] ?? ''), dn: dn['contact'], class: 'contact' },
        { guid: await admin.guidOf(dn['alice'] ?? ''), dn: dn['alice'], class: 'user' },
        { guid: await admin.guidOf(dn['boss'] ?? ''), dn: dn['boss'], class: 'user' },
      ].sort(by('dn')),
    );
    const members = (
      db.prepare('SELECT group_guid, member_guid, member_dn FROM memberships').all() as {
        member_dn: string;
      }[]
    ).sort(by('member_dn'));
    const groupGuid = await admin.guidOf(dn['group'] ?? '');
    expect(members).toEqual(
      [
        { group_guid: groupGuid, member_guid: await admin.guidOf(dn['alice'] ?? ''), member_dn: dn['alice'] },
        { group_guid: groupGuid, member_guid: await admin.guidOf(dn['admin'] ?? ''), member_dn: dn['admin'] },
        {
          group_guid: groupGuid,
          member_guid: await admin.guidOf(dn['contact'] ?? ''),
          member_dn: dn['contact'],
        },
      ].sort(by('member_dn')),
    );
    const alice = db
      .prepare('SELECT attributes FROM objects WHERE dn = ?')
      .pluck()
      .get(dn['alice']) as string;
    const attributes = JSON.parse(alice) as Record<string, unknown>;
    expect(attributes['telephoneNumber']).toEqual(['+1 555 0100']);
    expect(attributes['manager']).toEqual([{ dn: dn['boss'], guid: await admin.guidOf(dn['boss'] ?? '') }]);
    expect(attributes['objectSid']).toEqual([
      { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, bytes: 28 },
    ]);
    expect(attributes).not.toHaveProperty('memberOf');
    expect(attributes).not.toHaveProperty('uSNChanged');
    const containers = db.prepare('SELECT dn FROM containers ORDER BY dn').pluck().all();
    expect(containers).toEqual([dn['ou'], `OU=Staff,${dn['ou'] ?? ''}`].sort());
    db.close();

    expect(smtp.messages).toEqual([]);
    expect(statSync(join(dir, 'state', 'adnotify.db')).mode & 0o777).toBe(0o600);
  });

  it('records the DC, its invocationId and a cursor taken before the search', async () => {
    const { searchEntries } = await admin.client.search('', {
      scope: 'base',
      attributes: ['highestCommittedUSN', 'dsServiceName'],
    });
    const hcuNow = BigInt(String(searchEntries[0]?.['highestCommittedUSN']));
    const { searchEntries: objects } = await admin.client.search(dn['ou'] ?? '', {
      scope: 'sub',
      attributes: ['uSNChanged'],
    });
    const newest = objects.map((e) => BigInt(String(e['uSNChanged']))).reduce((a, b) => (a > b ? a : b));

    const result = await runCli(['--config', config, 'status', '--json'], env);
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout) as {
      directory: { url: string; dsServiceName: string; invocationId: string; usnCursor: string };
      snapshot: { objects: number; groups: number; memberships: number };
      lastCycle: { kind: string; outcome: string };
      outbox: Record<string, number>;
    };
    expect(status.directory.url).toBe(samba.url);
    expect(status.directory.dsServiceName).toBe(String(searchEntries[0]?.['dsServiceName']));
    expect(status.directory.invocationId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    const cursor = BigInt(status.directory.usnCursor);
    expect(cursor).toBeGreaterThanOrEqual(newest);
    expect(cursor).toBeLessThanOrEqual(hcuNow);
    expect(status.snapshot).toMatchObject({ objects: 4, groups: 1, memberships: 3 });
    expect(status.lastCycle).toMatchObject({ kind: 'baseline', outcome: 'ok' });
    expect(status.outbox).toEqual({ pending: 0, held: 0, digest: 0, sent: 0, failed: 0 });

    const text = await runCli(['--config', config, 'status'], env);
    expect(text.stdout).toMatch(/^invocationId:\s+[0-9a-f-]{36}$/m);
    expect(text.stdout).toMatch(/^usn cursor:\s+\d+$/m);
    expect(text.stdout).toMatch(/^last cycle:\s+\S+ baseline ok/m);
  });

  it('logs a one-line summary of the baseline', async () => {
    const fresh = tempDir();
    const cfg = writeConfig(fresh, samba, { baseDN: dn['ou'] ?? '', smtpPort: smtp.port });
    const result = await runCli(['--config', cfg, 'once'], env);
    const summary = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((r) => r['message'] === 'baseline taken');
    expect(summary).toMatchObject({
      component: 'cycle',
      objects: 4,
      groups: 1,
      memberships: 3,
      containers: 2,
    });
    expect(typeof summary?.['seconds']).toBe('number');
  });
});
