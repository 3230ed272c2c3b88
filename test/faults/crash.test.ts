/**
 * Crash consistency: the daemon is killed with SIGKILL at random moments of its work (in the
 * middle of a search, whose transaction is open; right after a cycle commits; during
 * delivery; at a random time) and started again, round after round, while the directory
 * changes. At the end every expected message has arrived; a message arrives twice only if the
 * server accepted it just before a kill.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import type { Running } from '../support/daemon.js';
import { Bed, directoryAndSmtp, expectNoSecrets, killAt, PHASES, type Phase } from './harness.js';
import { counts, record, tally } from './summary.js';

const samba = sambaOrNull();
const ROUNDS = 24;
const PER_ROUND = 3;

describe.skipIf(!samba)('fault: SIGKILL at random moments', () => {
  if (!samba) return;
  // A server that takes 80 ms per message, so that kills land during delivery too.
  const shared = directoryAndSmtp(samba, { delayMs: 80 });

  it(`${ROUNDS} rounds of changes and kills: every message delivered, duplicates only for kills right after acceptance`, async () => {
    const { admin, smtp } = shared;
    const users: string[] = [];
    const bed = await Bed.create(
      admin,
      samba,
      'crash',
      async (ou) => {
        for (let i = 0; i < ROUNDS * PER_ROUND; i++) {
          // An enabled account (it has a password): disabled ones get no mail.
          users.push(
            await admin.user(
              ou,
              `crash${i}`,
              { displayName: `Crash ${i}`, mail: `crash${i}@example.test` },
              { password: 'Str0ng!Passw0rd' },
            ),
          );
        }
      },
      {
        smtpPort: smtp.port,
        extra: 'notify: { objectModified: true }\npoll: { schedule: "1s" }\ndelivery: { retryDelay: "1s" }',
      },
    );

    const kills: { phase: Phase; at: number }[] = [];
    const expected: { to: string; marker: string }[] = [];
    let daemon: Running = bed.daemon();
    for (let round = 0; round < ROUNDS; round++) {
      await daemon.waitFor((l) => l['message'] === 'adnotify started', 'the start');
      const from = daemon.mark();
      for (let k = 0; k < PER_ROUND; k++) {
        const i = round * PER_ROUND + k;
        const marker = `crash-title-${round}-${k}`;
        await admin.modify(users[i]!, 'replace', 'title', [marker]);
        expected.push({ to: `crash${i}@example.test`, marker });
      }
      const phase = PHASES[round % PHASES.length]!;
      kills.push({ phase, at: await killAt(daemon, phase, from) });
      daemon = bed.daemon();
    }

    // Left alone, the last daemon delivers the rest.
    const deadline = Date.now() + 90_000;
    const delivered = () =>
      tally(
        expected,
        smtp.messages.map((m) => ({ to: m.to, text: m.parsed.text ?? '' })),
      );
    while (delivered().lost.length > 0 && Date.now() < deadline) await sleep(250);
    await sleep(2_000); // anything else it would still send
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    const result = delivered();
    const byPhase = PHASES.map((p) => `${kills.filter((k) => k.phase === p).length} ${p}`).join(', ');
    record({
      scenario: 'crash consistency',
      faults: `${kills.length} SIGKILLs (${byPhase})`,
      changes: expected.length,
      expected: expected.length,
      ...counts(result),
    });
    expect(result.lost, 'messages never delivered').toEqual([]);
    // A duplicate is a message the server accepted within moments of a kill: the process died
    // after sending it, before it could record that (the capture accepts 80 ms after the data,
    // so a kill in that window precedes the acceptance it causes to be repeated).
    for (const [marker, copies] of result.copies) {
      if (copies < 2) continue;
      const first = Math.min(
        ...smtp.messages.filter((m) => (m.parsed.text ?? '').includes(marker)).map((m) => m.acceptedAt),
      );
      expect(
        kills.some((k) => k.at - first > -250 && k.at - first < 1_500),
        `${marker} arrived ${copies} times, though no kill followed its acceptance`,
      ).toBe(true);
    }
    expect(result.duplicated).toBeLessThanOrEqual(kills.length);

    // Each change is one event, recorded once, however many times its cycle was cut short.
    const history = await bed.run('history', '--since', '1h', '--json');
    const events = JSON.parse(history.stdout) as { type: string; changes?: { after: string[] }[] }[];
    for (const { marker } of expected) {
      const matching = events.filter((e) => e.changes?.some((c) => c.after.includes(marker)));
      expect(matching, marker).toHaveLength(1);
    }
    const outbox = await bed.run('outbox', 'list', '--json');
    const rows = JSON.parse(outbox.stdout) as { status: string }[];
    expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
    expectNoSecrets([samba.password]);
  });
});
