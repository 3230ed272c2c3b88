/**
 * Password-expiry reminders against Samba: expiry times come from the directory
 * (msDS-UserPasswordExpiryTimeComputed, honouring fine-grained password policies, which put
 * users on different thresholds); only "now" is moved, with ADNOTIFY_FAKE_NOW.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { PSO_DAY } from '../support/seed.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('password-expiry reminders (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);
  const psos: string[] = [];

  // After hooks run last-registered first: these objects go before the connection closes.
  afterAll(async () => {
    for (const dn of psos) await bed.admin.delete(dn).catch(() => undefined);
  });

  /** A fine-grained password policy with this maximum age, applied to these users. */
  async function policy(maxAgeDays: number, users: string[]): Promise<void> {
    psos.push(
      await bed.admin.passwordSettings(users, {
        'msDS-PasswordSettingsPrecedence': String(10 + psos.length),
        'msDS-MaximumPasswordAge': String(-Math.round(maxAgeDays * PSO_DAY)),
      }),
    );
  }

  it('reminds each user once per threshold per expiry date, skipping those who should not be', async () => {
    const dn: Record<string, string> = {};
    const pw = { password: 'Str0ng!Passw0rd' };
    const user = (ou: string, name: string, attrs: Record<string, string> = {}, withPassword = true) =>
      bed.admin.user(
        ou,
        `${name}${uniqueName('').slice(-6)}`.slice(0, 20),
        { displayName: name, mail: `${name.toLowerCase()}@example.test`, ...attrs },
        withPassword ? pw : {},
      );
    const watch = await Watch.start(
      bed.admin,
      samba,
      'pwexp',
      async (ou) => {
        dn['ann'] = await user(ou, 'Ann'); // 5 days: past 14 and 7
        dn['bob'] = await user(ou, 'Bob'); // 2.5 days: past 14, 7 and 3
        dn['cat'] = await user(ou, 'Cat'); // 20 days: nothing yet
        dn['dan'] = await user(ou, 'Dan'); // the domain's 42 days: nothing
        dn['eve'] = await user(ou, 'Eve', {}, false); // disabled (no password set)
        dn['fay'] = await user(ou, 'Fay');
        await bed.admin.modify(dn['fay'], 'replace', 'userAccountControl', ['66048']); // never expires
        dn['gil'] = await user(ou, 'Gil');
        await bed.admin.modify(dn['gil'], 'replace', 'pwdLastSet', ['0']); // must change at next logon
        dn['hal'] = await bed.admin.user(ou, uniqueName('hal').slice(0, 20), { displayName: 'Hal' }, pw); // no mail
        await policy(5, [dn['ann'], dn['eve'], dn['fay'], dn['gil'], dn['hal']]);
        await policy(2.5, [dn['bob']]);
        await policy(20, [dn['cat']]);
      },
      {
        smtpPort: bed.smtp.port,
        extra: `passwordExpiry:
  enabled: true
  daysBefore: [14, 7, 3, 1]
  portalUrl: "https://passwords.example.test/reset?from=mail&x=<1>"`,
      },
    );

    const dry = await watch.run('password-expiry', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    const lines = dry.stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^would remind ann@example\.test {2}Ann: expires \S+ \(in 4 days\), threshold 7 days \(also past 14 days: recorded, not sent\)$/,
    );
    expect(lines[1]).toMatch(
      /^would remind bob@example\.test {2}Bob: expires \S+ \(in 2 days\), threshold 3 days \(also past 7, 14 days: recorded, not sent\)$/,
    );
    expect(bed.smtp.messages).toEqual([]);

    const run = await watch.run('password-expiry');
    expect(run.code, run.stderr).toBe(0);
    const subjects = () => bed.smtp.messages.map((m) => `${m.to.join()}: ${m.parsed.subject ?? ''}`).sort();
    expect(subjects()).toEqual([
      'ann@example.test: Your password expires in 4 days',
      'bob@example.test: Your password expires in 2 days',
    ]);
    const ann = bed.smtp.messages.find((m) => m.to.includes('ann@example.test'))!;
    expect(ann.parsed.text).toMatch(
      /Your password expires on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in 4 days\./,
    );
    expect(ann.parsed.text).toContain(
      'Change it now at https://passwords.example.test/reset?from=mail&x=<1>',
    );
    expect(String(ann.parsed.html)).toContain(
      'href="https://passwords.example.test/reset?from&#x3D;mail&amp;x&#x3D;&lt;1&gt;"',
    );

    // A second run the same day sends nothing new.
    const again = await watch.run('password-expiry');
    expect(again.stdout).toMatch(/^password-expiry: no reminders due$/m);
    expect(bed.smtp.messages).toHaveLength(2);

    // Two days later: Ann is within 3 days, Bob within 1.
    const later = { ADNOTIFY_FAKE_NOW: new Date(Date.now() + 2 * 86_400_000).toISOString() };
    watch.env = { ...watch.env, ...later };
    await watch.run('password-expiry');
    expect(subjects()).toEqual([
      'ann@example.test: Your password expires in 2 days',
      'ann@example.test: Your password expires in 4 days',
      'bob@example.test: Your password expires in 2 days',
      'bob@example.test: Your password expires today',
    ]);

    // Ann changes her password: a new expiry date starts afresh (back to 7 days, now).
    delete watch.env['ADNOTIFY_FAKE_NOW'];
    await bed.admin.modify(dn['ann']!, 'replace', 'unicodePwd', [
      Buffer.from('"An0ther!Passw0rd"', 'utf16le'),
    ]);
    await watch.run('password-expiry');
    expect(bed.smtp.messages).toHaveLength(5);
    expect(bed.smtp.messages.at(-1)?.parsed.subject).toBe('Your password expires in 4 days');
    expect(bed.smtp.messages.at(-1)?.to).toEqual(['ann@example.test']);
  });

  it('refuses to send while passwordExpiry.enabled is false, but --dry-run works', async () => {
    const watch = await Watch.start(bed.admin, samba, 'pwoff', () => Promise.resolve(), {
      smtpPort: bed.smtp.port,
    });
    const refused = await watch.run('password-expiry');
    expect(refused.code).toBe(64);
    expect(refused.stderr).toMatch(/passwordExpiry\.enabled is false/);
    const dry = await watch.run('password-expiry', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
  });
});
