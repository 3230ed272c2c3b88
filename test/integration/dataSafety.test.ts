/**
 * Nothing lost (issue 14), against Samba: a base DN written with other spacing and case, a DC
 * whose USNs went back without a new invocationId, a recipient look-up that fails mid-cycle.
 * Each failed on the code before the fix.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, uniqueName } from '../support/cli.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { directoryAndCaptures } from '../support/directoryAndMail.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('nothing lost (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  const bed = directoryAndCaptures(samba, 'after the file');

  const ref = async (dn: string, cls: string) => ({ guid: await bed.admin.guidOf(dn), dn, class: cls });

  it('directory.baseDN written with spaces and another case watches the same objects', async () => {
    const ou = await bed.admin.ou(uniqueName('spaced'));
    const user = await bed.admin.user(ou, uniqueName('sp').slice(0, 20));
    const spelt = ou.replace(/,/g, ', ').replace(/^OU=/, 'ou=');
    const watch = await Watch.start(bed.admin, samba, 'spacedown', undefined, { watchBase: spelt });
    expect(watch.query<{ n: number }>('SELECT count(*) AS n FROM objects')[0]?.n).toBe(1);

    await bed.admin.modify(user, 'replace', 'description', ['seen']);
    const { stdout, events } = await watch.cycle();
    expect(stdout).toMatch(/^incremental: /m);
    expect(events).toEqual([
      {
        type: 'object.modified',
        object: await ref(user, 'user'),
        changes: [{ attribute: 'description', before: [], after: ['seen'] }],
      },
    ]);

    // Spelling the same base another way is not a new scope: no silent re-baseline.
    writeFileSync(
      watch.config,
      readFileSync(watch.config, 'utf8').replace(JSON.stringify(spelt), JSON.stringify(ou)),
    );
    await bed.admin.modify(user, 'replace', 'description', ['again']);
    const second = await watch.cycle();
    expect(second.stdout).toMatch(/^incremental: /m);
    expect(second.events.map((e) => e.type)).toEqual(['object.modified']);
  });

  it('highestCommittedUSN below the cursor on the same invocationId (a reverted DC) triggers a resync', async () => {
    let user = '';
    const watch = await Watch.start(bed.admin, samba, 'rollback', async (ou) => {
      user = await bed.admin.user(ou, uniqueName('rb').slice(0, 20));
    });
    // As if the DC had been reverted to an older VM snapshot: its USNs are now behind ours.
    const db = new Database(watch.db);
    try {
      db.prepare('UPDATE directory_state SET usn_cursor = usn_cursor + 1000000').run();
    } finally {
      db.close();
    }
    await bed.admin.modify(user, 'replace', 'description', ['after the revert']);
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/highestCommittedUSN is below the cursor.*resync|USN rollback/);
    expect(result.stdout).toMatch(/^resync: /m);
    expect((await watch.newEvents()).map((e) => [e.type, e.object.dn])).toEqual([['object.modified', user]]);
    expect(await watch.cursor()).toBe(await bed.admin.hcu());
  });

  it('a recipient look-up that fails mid-cycle fails the cycle; the next one mails that recipient', async () => {
    const smtp = await bed.capture();
    const proxy = await LdapProxy.start(samba);
    let direct: LdapProxy | undefined;
    try {
      const elsewhere = await bed.admin.ou(uniqueName('mgrs'));
      const boss = await bed.admin.user(
        elsewhere,
        uniqueName('boss').slice(0, 20),
        { mail: 'boss-lookup@example.test', displayName: 'Boss' },
        { password: 'Str0ng!Passw0rd' },
      );
      let amy = '';
      const watch = await Watch.start(
        bed.admin,
        samba,
        'lookup',
        async (ou) => {
          amy = await bed.admin.user(ou, uniqueName('amy').slice(0, 20), { manager: boss });
        },
        { urls: [proxy.url], smtpPort: smtp.port },
      );
      await bed.admin.modify(amy, 'replace', 'title', ['Director']);

      // rootDSE, invocationId, the change search; then the manager (outside the watched OU)
      // is looked up: hold that search and cut the connection under it.
      proxy.reset();
      proxy.holdAfterSearches(3);
      const failing = watch.run('once');
      for (let i = 0; i < 200 && !proxy.holding; i++) await new Promise((r) => setTimeout(r, 25));
      expect(proxy.holding).toBe(true);
      await proxy.stop();
      const failed = await failing;
      expect(failed.code, failed.stderr).not.toBe(0);
      expect(failed.stderr).toMatch(/cannot reach the directory|closed|socket/i);
      expect(smtp.messages).toEqual([]);
      expect(await watch.newEvents()).toEqual([]); // nothing committed

      direct = await LdapProxy.start(samba);
      writeFileSync(watch.config, readFileSync(watch.config, 'utf8').replace(proxy.url, direct.url));
      const { events } = await watch.cycle();
      expect(events.map((e) => [e.type, e.object.dn])).toEqual([['object.modified', amy]]);
      expect(smtp.messages.map((m) => m.to)).toEqual([['boss-lookup@example.test']]);
      expect(await runCli(['--config', watch.config, 'status'], watch.env)).toMatchObject({ code: 0 });
    } finally {
      await proxy.stop().catch(() => undefined);
      await direct?.stop();
    }
  });

  it('a LAPS password set on a user is reported as changed and never stored, mailed, logged or shown', async () => {
    const smtp = await bed.capture();
    const legacy = 'Hunter2-legacy-LAPS';
    const windows = '{"n":"Administrator","t":"1db5e2f","p":"Sup3r-Secr3t-LAPS"}';
    let sue = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'laps',
      async (ou) => {
        const mo = await bed.admin.user(
          ou,
          uniqueName('mo').slice(0, 20),
          { mail: 'mo-laps@example.test', displayName: 'Mo' },
          { password: 'Str0ng!Passw0rd' },
        );
        sue = await bed.admin.user(
          ou,
          uniqueName('sue').slice(0, 20),
          { mail: 'sue-laps@example.test', displayName: 'Sue', manager: mo },
          { password: 'Str0ng!Passw0rd' },
        );
      },
      {
        smtpPort: smtp.port,
        smtpExtra: '  to: [helpdesk@example.test]',
        extra: 'notify:\n  objectModified: true\n  ownerManager: true\n',
      },
    );
    await bed.admin.modify(sue, 'replace', 'ms-Mcs-AdmPwd', [legacy]);
    await bed.admin.modify(sue, 'replace', 'msLAPS-Password', [windows]);
    await bed.admin.modify(sue, 'replace', 'pwdLastSet', ['0']); // routine: noise, not mailed
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    const events = await watch.newEvents();
    expect(events).toEqual([
      {
        type: 'object.modified',
        object: await ref(sue, 'user'),
        changes: [
          { attribute: 'ms-Mcs-AdmPwd', redacted: true },
          { attribute: 'msLAPS-Password', redacted: true },
        ],
      },
    ]);
    expect(smtp.messages.flatMap((m) => m.to).sort()).toEqual([
      'helpdesk@example.test',
      'mo-laps@example.test',
      'sue-laps@example.test',
    ]);
    for (const m of smtp.messages) {
      expect(m.parsed.text).toMatch(/ms-Mcs-AdmPwd.*changed \(not shown\)/s);
      expect(m.raw).not.toContain('Hunter2');
      expect(m.raw).not.toContain('Sup3r-Secr3t');
    }
    const history = await watch.run('history', '--since', '1h');
    const state = readFileSync(watch.db);
    for (const secret of ['Hunter2', 'Sup3r-Secr3t']) {
      expect(history.stdout).not.toContain(secret);
      expect(result.stderr).not.toContain(secret); // debug-level log
      expect(state.includes(Buffer.from(secret))).toBe(false);
    }
    // The stored stand-in is keyed, not a bare SHA-256 of the value.
    const { createHash } = await import('node:crypto');
    const bare = createHash('sha256').update(legacy).digest('hex');
    const row = watch.query<{ attributes: string }>('SELECT attributes FROM objects WHERE dn = ?', sue)[0];
    expect(row?.attributes).toMatch(/"ms-Mcs-AdmPwd":\[\{"hmac":"[0-9a-f]{64}","redacted":true\}\]/);
    expect(row?.attributes).not.toContain(bare);

    // The same value again is no change; another one is.
    await bed.admin.modify(sue, 'replace', 'ms-Mcs-AdmPwd', [legacy]);
    expect((await watch.cycle()).events).toEqual([]);
    await bed.admin.modify(sue, 'replace', 'ms-Mcs-AdmPwd', ['Another-LAPS-1']);
    expect((await watch.cycle()).events).toMatchObject([
      { type: 'object.modified', changes: [{ attribute: 'ms-Mcs-AdmPwd', redacted: true }] },
    ]);
  });
});
