/**
 * A least-privileged bind account (issue 14), against Samba: an ordinary domain user can
 * poll, but cannot see CN=Deleted Objects (Active Directory's default for non-administrators),
 * so deletions would be missed: check-config --connect and the daemon's start say so, and
 * what to grant. With the grant, deletions are reported.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, uniqueName } from '../support/cli.js';
import { startDaemon } from '../support/daemon.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('a non-administrator bind account (Samba AD DC)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);

  it('check-config --connect and the daemon warn that deleted objects are hidden; an administrator sees them', async () => {
    const reader = uniqueName('ro').slice(0, 18);
    const ouForReader = await bed.admin.ou(uniqueName('svc'));
    await bed.admin.user(ouForReader, reader, {}, { password: 'Str0ng!Passw0rd' });
    let victim = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'leastpriv',
      async (ou) => {
        victim = await bed.admin.user(ou, uniqueName('v').slice(0, 20));
      },
      {
        bindDN: `${reader}@example.test`,
        env: { TEST_BIND_PASSWORD: 'Str0ng!Passw0rd' },
        smtpPort: bed.smtp.port,
      },
    );
    await bed.admin.delete(victim); // a tombstone exists, which an administrator would see

    const check = await watch.run('check-config', '--connect');
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toContain(
      `warning: ${reader}@example.test sees no deleted object in CN=Deleted Objects,${samba.baseDN}`,
    );
    expect(check.stderr).toContain(`dsacls "CN=Deleted Objects,${samba.baseDN}" /G`);
    // What the warning is about: the deletion is invisible to this account.
    expect((await watch.cycle()).events).toEqual([]);

    const daemon = startDaemon(watch.config, watch.env);
    try {
      const warning = await daemon.waitFor(
        (l) => l['message'] === 'no deleted object is visible to the bind account: deletions may be missed',
        'the warning at start',
      );
      expect(String(warning['fix'])).toContain('LCRP');
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }

    // The administrator sees the tombstone: no warning.
    const adminConfig = watch.config.replace(/adnotify\.yaml$/, 'admin.yaml');
    writeFileSync(
      adminConfig,
      readFileSync(watch.config, 'utf8').replace(/bindDN: .*/, `bindDN: ${JSON.stringify(samba.bindDN)}`),
    );
    const admins = await runCli(['--config', adminConfig, 'check-config', '--connect'], {
      TEST_BIND_PASSWORD: samba.password,
    });
    expect(admins.code, admins.stderr).toBe(0);
    expect(admins.stdout).toMatch(/^ldap: deleted objects are visible to the bind account/m);
    expect(admins.stderr).not.toContain('warning');
  });
});
