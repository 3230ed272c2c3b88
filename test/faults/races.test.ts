/**
 * Races and stalls between adnotify processes on one state, through the built executable:
 * a command while a cycle waits for its actors' audit records (it must not wait for the lock,
 * let alone fail busy); two deliveries at once (each message sent once); `temp cancel` while
 * the lifecycle job runs (a cancel is never undone; a grant left in place only when the cancel
 * came after the start and says so).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { sambaOrNull, tempDir, uniqueName } from '../support/cli.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { Bed, directoryAndSmtp, runBin } from './harness.js';
import { record } from './summary.js';

const samba = sambaOrNull();
const PASSWORD = 'Str0ng!Passw0rd';

describe.skipIf(!samba)('fault: races and stalls between adnotify processes', () => {
  if (!samba) return;
  const shared = directoryAndSmtp(samba);

  it('a command that writes the state goes through at once while a cycle waits for its actor', async () => {
    const { admin, smtp } = shared;
    const audit = join(tempDir('adnotify-audit-'), 'audit.log');
    writeFileSync(audit, '');
    let ann = '';
    const bed = await Bed.create(
      admin,
      samba,
      'stallwait',
      async (ou) => {
        ann = await admin.user(
          ou,
          uniqueName('ann').slice(0, 20),
          { mail: 'stall-ann@example.test' },
          { password: PASSWORD },
        );
      },
      {
        smtpPort: smtp.port,
        extra: 'notify: { objectModified: true }',
        // Longer than SQLite's 5 s busy timeout: a command would have failed busy before.
        directoryExtra: `  actor: { source: samba-audit, paths: [${JSON.stringify(audit)}], waitSeconds: 8 }`,
      },
    );
    await admin.modify(ann, 'replace', 'title', ['stall-told']);

    const cycle = bed.run('once');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the cycle commits, then waits
    const started = performance.now();
    const command = await bed.run('outbox', 'retry', '--all');
    const tookMs = performance.now() - started;
    const once = await cycle;

    expect(command.code, command.stderr).toBe(0);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stderr).toContain('waiting for the audit records of some changes');
    const told = smtp.messages.filter((m) => m.to.includes('stall-ann@example.test'));
    expect(told).toHaveLength(1);
    expect(told[0]?.parsed.text).toContain('By: unknown');
    record({
      scenario: 'command during an actor wait',
      faults: `outbox retry while a cycle waited 8 s for an audit record (took ${Math.round(tookMs)} ms)`,
      changes: 1,
      expected: 1,
      delivered: told.length,
      duplicated: Math.max(0, told.length - 1),
      lost: Math.max(0, 1 - told.length),
    });
  });

  it('two deliveries at once (two `once` against a slow SMTP server) send each message once', async () => {
    const { admin } = shared;
    const { SmtpCapture } = await import('../support/smtpCapture.js');
    const smtp = await SmtpCapture.start({ delayMs: 250 });
    const people: string[] = [];
    try {
      const bed = await Bed.create(
        admin,
        samba,
        'twosenders',
        async (ou) => {
          for (let i = 0; i < 8; i++) {
            people.push(
              await admin.user(
                ou,
                uniqueName(`two${i}`).slice(0, 20),
                { mail: `two${i}@example.test` },
                { password: PASSWORD },
              ),
            );
          }
        },
        { smtpPort: smtp.port, extra: 'notify: { objectModified: true }' },
      );
      for (const dn of people) await admin.modify(dn, 'replace', 'title', ['told once']);

      const first = bed.run('once');
      await new Promise((resolve) => setTimeout(resolve, 600)); // the first is delivering
      const second = await bed.run('once');
      const done = await first;

      expect([done.code, second.code], `${done.stderr}\n${second.stderr}`).toEqual([0, 0]);
      const received = smtp.messages.flatMap((m) => m.to).sort();
      const expected = people.map((_, i) => `two${i}@example.test`).sort();
      expect(received).toEqual(expected);
      record({
        scenario: 'two deliveries at once',
        faults: 'a second `once` delivering while the first does, SMTP 250 ms a message',
        changes: people.length,
        expected: expected.length,
        delivered: new Set(received).size,
        duplicated: received.length - new Set(received).size,
        lost: expected.filter((a) => !received.includes(a)).length,
      });
    } finally {
      await smtp.stop();
    }
  });

  it('temp cancel while the job applies another schedule: never undone, and a grant left only as the cancel says', async () => {
    const { admin, smtp } = shared;
    const proxy = await LdapProxy.start(samba);
    try {
      const dn: Record<string, string> = {};
      const bed = await Bed.create(
        admin,
        samba,
        'cancelrace',
        async (ou) => {
          dn['ann'] = await admin.user(ou, uniqueName('ann').slice(0, 20), {}, { password: PASSWORD });
          dn['ben'] = await admin.user(ou, uniqueName('ben').slice(0, 20), {}, { password: PASSWORD });
          dn['team'] = await admin.group(ou, uniqueName('team').slice(0, 20));
          dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20));
        },
        { smtpPort: smtp.port, urls: [proxy.url], extra: 'lifecycle:\n  enabled: true' },
      );
      const add = async (group: string, member: string) => {
        const r = await bed.run(
          'temp',
          'add',
          'member',
          '--group',
          group,
          '--member',
          member,
          '--until',
          '1d',
        );
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.trim();
      };
      await add(dn['team']!, dn['ann']!);
      const second = await add(dn['club']!, dn['ben']!);

      proxy.holdModifyResponses(); // the job's first write reaches the DC; its answer waits
      const apply = bed.run('temp', 'apply');
      for (let i = 0; i < 400 && proxy.heldModifyResponses === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(proxy.heldModifyResponses).toBe(1);
      const cancel = runBin(['--config', bed.config, 'temp', 'cancel', second], bed.env);
      await new Promise((resolve) => setTimeout(resolve, 500));
      proxy.releaseAll();
      const [applied, cancelled] = await Promise.all([apply, cancel]);

      expect(applied.code, applied.stderr).toBe(0);
      const schedules = JSON.parse((await bed.run('temp', 'list', '--all', '--json')).stdout) as {
        id: number;
        state: string;
      }[];
      const state = schedules.find((s) => s.id === Number(second))?.state;
      const { searchEntries } = await admin.client.search(dn['club']!, {
        scope: 'base',
        attributes: ['member'],
      });
      const members = [searchEntries[0]?.['member'] ?? []].flat().map(String);
      // The cancel went first (nothing applied); or the job's step went first and the cancel
      // after it (a cancel leaves a started change in place, and says so); or the cancel read
      // the schedule before the step and is told it changed (75). Never a cancel undone.
      const startedFirst = cancelled.stdout.includes('the change made at its start stays');
      if (cancelled.code === 0) {
        expect(state).toBe('cancelled');
        expect(members).toEqual(startedFirst ? [dn['ben']] : []);
      } else {
        expect(cancelled.code, cancelled.stderr).toBe(75);
        expect(cancelled.stderr).toContain('changed while it was being cancelled');
        expect(state).toBe('active');
        expect(members).toEqual([dn['ben']]);
      }
      record({
        scenario: 'temp cancel during temp apply',
        faults: `cancel while the job's first write waited; ${cancelled.code === 0 && !startedFirst ? 'the cancel' : 'the job'} went first`,
        changes: 2,
        expected: 1,
        delivered: 1,
        duplicated: 0,
        lost: 0,
      });
    } finally {
      await proxy.stop();
    }
  });
});
