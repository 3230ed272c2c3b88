/**
 * The bind password changed in the directory under a running daemon (rotated, and adnotify's
 * copy not yet): binding again and again with the refused password would lock the service
 * account out, for adnotify and for anything else that uses it. The daemon binds once, says
 * why (log, /healthz), keeps delivering mail, and binds again only when its config is
 * reloaded; then the changes made meanwhile are reported.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { sambaOrNull, tempDir, uniqueName } from '../support/cli.js';
import { freePort } from '../support/daemon.js';
import { Bed, directoryAndSmtp, expectNoSecrets } from './harness.js';
import { counts, record, tally } from './summary.js';

const samba = sambaOrNull();
const OLD_PASSWORD = 'Bind-Old-5c1e0a!';
const NEW_PASSWORD = 'Bind-New-9a4d7f!';
const LOCKOUT_THRESHOLD = 3;

describe.skipIf(!samba)('fault: the bind password refused under a running daemon', () => {
  if (!samba) return;
  const shared = directoryAndSmtp(samba);

  it('binds with the refused password once, says why, locks nothing out; a reload with the new one catches up', async () => {
    const { admin, smtp } = shared;
    const secrets = tempDir('adnotify-secret-');
    const passwordFile = join(secrets, 'ldap-password');
    writeFileSync(passwordFile, OLD_PASSWORD, { mode: 0o600 });
    const sam = `bpw${uniqueName('').slice(-8)}`;
    const httpPort = await freePort();
    let account = '';
    let user = '';
    const bed = await Bed.create(
      admin,
      samba,
      'bindpw',
      async (ou) => {
        account = await admin.user(ou, sam, {}, { password: OLD_PASSWORD });
        // A policy that locks the account after a few bad passwords, as many domains have.
        await admin.passwordSettings([account], {
          'msDS-LockoutThreshold': String(LOCKOUT_THRESHOLD),
        });
        user = await admin.user(
          ou,
          `${sam}u`,
          { mail: 'bindpw-user@example.test' },
          { password: 'Str0ng!Passw0rd' },
        );
      },
      {
        bindDN: `${sam}@example.test`,
        bindPassword: JSON.stringify(`\${file:${passwordFile}}`),
        smtpPort: smtp.port,
        extra: `notify: { objectModified: true }\npoll: { schedule: "1s" }\nhttp: { listen: "127.0.0.1:${httpPort}" }`,
      },
    );
    const healthz = async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      return { status: res.status, reasons: ((await res.json()) as { reasons: string[] }).reasons };
    };
    const daemon = bed.daemon();
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
    // Both its sessions bound (the change notifications open after the first poll).
    await daemon.waitFor((l) => l['message'] === 'poll trigger: notification', 'the notifications');

    // The password is changed in the directory, and a change is made adnotify should report.
    await admin.modify(account, 'replace', 'unicodePwd', [Buffer.from(`"${NEW_PASSWORD}"`, 'utf16le')]);
    await admin.modify(user, 'replace', 'title', ['bindpw-meanwhile']);
    // The session bound before the change stays bound; a reload opens a new one.
    const refusedFrom = daemon.mark();
    daemon.child.kill('SIGHUP');
    await daemon.waitFor(
      (l) => l['message'] === 'bind password refused; not binding again until the config is reloaded',
      'the refused bind',
      20_000,
      refusedFrom,
    );
    // Polls go on without binding: more than enough for a naive retry to lock the account.
    const skippedFrom = daemon.mark();
    const skipped = () =>
      daemon
        .lines()
        .slice(skippedFrom)
        .filter(
          (l) => l['message'] === 'poll skipped: the bind password was refused; waiting for a config reload',
        ).length;
    for (let i = 0; i < 300 && skipped() < 5; i++) await sleep(100);
    expect(skipped(), 'polls skipped').toBeGreaterThanOrEqual(5);
    const refusals = daemon
      .lines()
      .filter(
        (l) => l['message'] === 'bind password refused; not binding again until the config is reloaded',
      );
    expect(refusals).toHaveLength(1);
    const [svc] = (
      await admin.client.search(account, { scope: 'base', attributes: ['badPwdCount', 'lockoutTime'] })
    ).searchEntries;
    const badPasswords = Number(svc?.['badPwdCount'] ?? 0);
    expect(badPasswords, 'bad passwords counted against the account').toBe(1);
    expect(Number(svc?.['lockoutTime'] ?? 0), 'locked out').toBe(0);
    const down = await healthz();
    expect(down.status).toBe(503);
    expect(down.reasons).toContainEqual(
      expect.stringMatching(
        /bind refused: the password is wrong\..*binds no more until its config is reloaded/,
      ),
    );

    // The administrator puts the new password where the config reads it, and reloads.
    writeFileSync(passwordFile, NEW_PASSWORD);
    const fixedFrom = daemon.mark();
    daemon.child.kill('SIGHUP');
    await daemon.waitFor(
      (l) => l['message'] === 'poll done',
      'a poll with the new password',
      20_000,
      fixedFrom,
    );
    const expected = [{ to: 'bindpw-user@example.test', marker: 'bindpw-meanwhile' }];
    const texts = () => smtp.messages.map((m) => ({ to: m.to, text: m.parsed.text ?? '' }));
    for (let i = 0; i < 100 && tally(expected, texts()).lost.length > 0; i++) await sleep(100);
    expect((await healthz()).status).toBe(200);
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    const result = tally(expected, texts());
    record({
      scenario: 'bind password changed',
      faults: `password rotated in AD under the daemon; ${badPasswords} bad bind, lockout at ${LOCKOUT_THRESHOLD}`,
      changes: 1,
      expected: 1,
      ...counts(result),
    });
    expect(result.lost).toEqual([]);
    expect(result.duplicated).toBe(0);
    expectNoSecrets([samba.password, OLD_PASSWORD, NEW_PASSWORD]);
  });
});
