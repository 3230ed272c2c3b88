/**
 * Hostile values, all in one cycle, through the built executable: HTML and script in every
 * rendered field, CR/LF and very long values in names used in subjects, right-to-left and
 * zero-width characters, a 1 MB attribute, a binary one, DNs with escaped commas and plus
 * signs, `mail` values holding several addresses or none. Nothing is injected into a header,
 * HTML is escaped, nothing crashes, and the rest of the cycle is delivered.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { sambaAuditLine } from '../support/auditLines.js';
import { sambaOrNull, tempDir } from '../support/cli.js';
import { Bed, directoryAndSmtp } from './harness.js';
import { counts, record, tally } from './summary.js';

const samba = sambaOrNull();
const PASSWORD = 'Str0ng!Passw0rd';
const SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>';

describe.skipIf(!samba)('fault: hostile values', () => {
  if (!samba) return;
  const shared = directoryAndSmtp(samba);

  it('no header injection, HTML escaped, invisible characters shown, bad addresses skipped, the rest delivered', async () => {
    const { admin, smtp } = shared;
    const dn: Record<string, string> = {};
    const bed = await Bed.create(
      admin,
      samba,
      'hostile',
      async (ou) => {
        const user = async (key: string, name: string, mail: string, cn?: string) => {
          dn[key] = await admin.user(
            ou,
            `hostile-${key}`,
            { displayName: name, mail },
            { password: PASSWORD, ...(cn ? { cn } : {}) },
          );
        };
        await user('html', 'Html', 'html@example.test');
        await user('escaped', 'Smith, John + Co', 'smith@example.test', 'Smith\\, John \\+ Co');
        await user('several', 'Several', 'several1@example.test, several2@example.test');
        await user('invalid', 'Invalid', 'not an address');
        await user('plain', 'Plain', 'plain@example.test');
        dn['group'] = `CN=Ops\\, QA \\+ Dev,${ou}`;
        await admin.client.add(dn['group'], {
          objectClass: ['top', 'group'],
          sAMAccountName: 'hostile-ops',
          mail: 'ops@example.test',
        });
      },
      { smtpPort: smtp.port, extra: 'notify: { objectModified: true }' },
    );

    const longName = `${SCRIPT}\r\nBcc: everyone@example.test\r\n\r\nbody? evil\u202eexe.txt ad\u200bmin ${'N'.repeat(120)}`;
    await admin.modify(dn['html']!, 'replace', 'displayName', [longName]);
    await admin.modify(dn['html']!, 'replace', 'description', [SCRIPT]);
    await admin.modify(dn['html']!, 'replace', 'msDS-cloudExtensionAttribute13', ['I'.repeat(1_000_000)]);
    await admin.modify(dn['html']!, 'replace', 'jpegPhoto', [randomBytes(1_000_000)]);
    await admin.modify(dn['escaped']!, 'replace', 'title', ['hostile-escaped']);
    await admin.modify(dn['several']!, 'replace', 'title', ['hostile-several']);
    await admin.modify(dn['invalid']!, 'replace', 'title', ['hostile-invalid']);
    await admin.modify(dn['plain']!, 'replace', 'title', [`hostile-plain ${SCRIPT}`]);
    await admin.addMembers(dn['group']!, [dn['plain']!, dn['escaped']!]);

    const run = await bed.run('once');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/"level":"error"/);
    // The administrator hears of each bad mail value, once.
    const bad = run.stderr
      .split('\n')
      .filter((l) => l.includes('not mailed: its mail attribute is not one plain address'));
    expect(bad).toHaveLength(2);
    expect(bad.join('\n')).toContain('several1@example.test, several2@example.test');
    expect(bad.join('\n')).toContain('not an address');

    // Told: the changed users with one plain address each (the group's members hear of the
    // group's change; the group itself is not a person).
    const recipients = smtp.messages.flatMap((m) => m.to).sort();
    expect([...new Set(recipients)]).toEqual([
      'html@example.test',
      'plain@example.test',
      'smith@example.test',
    ]);
    expect(smtp.messages.some((m) => (m.parsed.text ?? '').includes('Ops, QA + Dev'))).toBe(true);
    for (const mail of smtp.messages) {
      // One Subject, one To; no header made from a value.
      const headers = mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n'));
      expect(headers).not.toMatch(/^(Bcc|body\?)/im);
      expect(headers.match(/^Subject:/gim)).toHaveLength(1);
      expect(mail.parsed.bcc).toBeUndefined();
      expect(mail.parsed.subject ?? '').not.toMatch(/[\r\n\u202e\u200b]/);
      expect(String(mail.parsed.html)).not.toMatch(/<script|<img/i);
      expect(mail.parsed.text ?? '').not.toMatch(/[\u202e\u200b]/);
      expect(mail.raw.length).toBeLessThan(100_000);
    }
    const html = smtp.messages.find((m) => m.to.includes('html@example.test'))!;
    expect(html.parsed.subject!.length).toBeLessThanOrEqual(200);
    expect(html.parsed.subject).toContain('\\r\\nBcc: everyone@example.test');
    expect(html.parsed.text).toContain('evil\\u202eexe.txt ad\\u200bmin');
    expect(html.parsed.text).toContain('(1,000,000 characters)');
    expect(html.parsed.text).toContain('jpegPhoto: (none) -> binary value, changed');
    expect(String(html.parsed.html)).toContain('&lt;script&gt;');
    // Escaped DNs are shown as names: the user's own change and the group's.
    const smith = smtp.messages
      .filter((m) => m.to.includes('smith@example.test'))
      .map((m) => m.parsed.subject);
    expect(smith.sort()).toEqual(['Changes to group Ops, QA + Dev', 'Changes to user Smith, John + Co']);

    // The messages not sent were never queued: nothing waits, nothing failed.
    const outbox = JSON.parse((await bed.run('outbox', 'list', '--json')).stdout) as { status: string }[];
    expect(outbox.every((m) => m.status === 'sent')).toBe(true);
    const history = await bed.run('history', '--since', '1h');
    expect(history.code).toBe(0);
    expect(history.stdout).not.toMatch(/[\r\u202e\u200b]/);
    expect(history.stdout).not.toMatch(/^Bcc:/m);

    const expected = [
      { to: 'html@example.test', marker: 'jpegPhoto' },
      { to: 'smith@example.test', marker: 'hostile-escaped' },
      { to: 'plain@example.test', marker: 'hostile-plain' },
    ];
    const result = tally(
      expected,
      smtp.messages.map((m) => ({ to: m.to, text: m.parsed.text ?? '' })),
    );
    record({
      scenario: 'hostile values',
      faults: 'HTML, CR/LF, RTL, ZWSP, 1 MB text + binary, escaped DNs, bad mail',
      changes: 10,
      expected: expected.length,
      ...counts(result),
    });
    expect(result.lost).toEqual([]);
    expect(result.duplicated).toBe(0);
  });

  it('an audit record whose actor SID is malformed is skipped with a warning: no failed cycle, no stall, no wrong actor', async () => {
    const { admin, smtp } = shared;
    const audit = join(tempDir('adnotify-audit-'), 'audit.log');
    writeFileSync(audit, '');
    let target = '';
    const bed = await Bed.create(
      admin,
      samba,
      'hostsid',
      async (ou) => {
        target = await admin.user(
          ou,
          'hostile-sid',
          { displayName: 'Sid', mail: 'sid@example.test' },
          { password: PASSWORD },
        );
      },
      {
        smtpPort: smtp.port,
        extra: 'notify: { objectModified: true }',
        directoryExtra: `  actor: { source: samba-audit, paths: ["${audit}"], waitSeconds: 1 }`,
      },
    );
    const hostile = (sid: string) => sambaAuditLine({ sid, dn: target, attributes: ['title'] });

    await admin.modify(target, 'replace', 'title', ['hostile-sid-1']);
    appendFileSync(audit, hostile('S-1-5-21-1('));
    appendFileSync(audit, hostile('*'));
    const first = await bed.run('once');
    await admin.modify(target, 'replace', 'title', ['hostile-sid-2']);
    const second = await bed.run('once');

    expect([first.code, second.code], `${first.stderr}\n${second.stderr}`).toEqual([0, 0]);
    expect(first.stderr).toContain('audit record skipped: its actor SID is malformed');
    expect(second.stderr).not.toContain('audit record skipped'); // read once, never again
    const history = JSON.parse((await bed.run('history', '--since', '1h', '--json')).stdout) as {
      actor: unknown;
    }[];
    expect(history.map((e) => e.actor)).toEqual([null, null]);
    const told = smtp.messages
      .filter((m) => m.to.includes('sid@example.test'))
      .map((m) => m.parsed.text ?? '');
    expect(told.map((t) => t.match(/hostile-sid-\d/g)?.at(-1))).toEqual(['hostile-sid-1', 'hostile-sid-2']);
    record({
      scenario: 'malformed audit SID',
      faults: 'userSid "S-1-5-21-1(" and "*" in the audit file',
      changes: 2,
      expected: 2,
      delivered: told.length,
      lost: 2 - told.length,
      duplicated: Math.max(0, told.length - 2),
    });
  });
});
