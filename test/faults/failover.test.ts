/**
 * Active/standby under faults: two daemons (the built executable) on one PostgreSQL database
 * and the suite's DC, changes made throughout. The leader is SIGKILLed again and again at
 * random moments (during the search, right after a commit, during delivery, at random) and
 * started again as a standby; the database is stopped and started under them; the leader is
 * paused (SIGSTOP) past its lease and resumed. At the end every change is told, nothing is
 * lost, a message arrives twice only if the server accepted it just before a kill, no event
 * is recorded twice, and the paused leader committed nothing once deposed. The failover times
 * are printed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import type { LogLine, Running } from '../support/daemon.js';
import { PG_PASSWORD, requirePostgres, postgresForFile } from '../support/postgres.js';
import { Bed, directoryAndSmtp, expectNoSecrets, killAt, PHASES, runDaemon, type Phase } from './harness.js';
import { counts, record, tally } from './summary.js';

const samba = sambaOrNull();
const withPostgres = requirePostgres();
const KILLS = 20;
const PER_ROUND = 2;
const LEASE_SECONDS = 3;

const postgres = postgresForFile(!!samba && withPostgres);

const became = (l: LogLine) => l['message'] === 'became leader';

describe.skipIf(!samba || !withPostgres)('fault: an active/standby pair on PostgreSQL', () => {
  if (!samba) return;
  const shared = directoryAndSmtp(samba, { delayMs: 80 });

  it(`${KILLS} leader kills, a database restart and a paused leader: every change told once, nothing lost`, async () => {
    const { admin, smtp } = shared;
    const url = await postgres.server.database();
    const users: string[] = [];
    const total = (KILLS + 4) * PER_ROUND;
    const bed = await Bed.create(
      admin,
      samba,
      'pair',
      async (ou) => {
        for (let i = 0; i < total; i++) {
          users.push(
            await admin.user(
              ou,
              `pair${i}`,
              { displayName: `Pair ${i}`, mail: `pair${i}@example.test` },
              { password: 'Str0ng!Passw0rd' },
            ),
          );
        }
      },
      {
        smtpPort: smtp.port,
        stateExtra: '  backend: postgres\n  url: "${env:TEST_PG_URL}"\n',
        env: { TEST_PG_URL: url },
        extra: `notify: { objectModified: true }\npoll: { schedule: "1s" }\ndelivery: { retryDelay: "1s" }\nha: { instance: "node-a", leaseSeconds: ${LEASE_SECONDS} }`,
      },
    );
    const configs = { 'node-a': bed.config, 'node-b': join(bed.dir, 'b.yaml') };
    writeFileSync(configs['node-b'], readFileSync(bed.config, 'utf8').replace('node-a', 'node-b'));
    const start = (name: keyof typeof configs) => runDaemon(configs[name], bed.env);

    const daemons = new Map<string, Running>([['node-a', start('node-a')]]);
    await daemons.get('node-a')!.waitFor(became, 'node-a leads');
    daemons.set('node-b', start('node-b'));
    await daemons.get('node-b')!.waitFor((l) => l['message'] === 'standing by', 'node-b stands by');
    let leader = 'node-a';
    const other = (name: string) => (name === 'node-a' ? 'node-b' : 'node-a');

    const expected: { to: string; marker: string }[] = [];
    let next = 0;
    const change = async (label: string) => {
      for (let k = 0; k < PER_ROUND; k++) {
        const i = next++;
        const marker = `pair-title-${label}-${k}`;
        await admin.modify(users[i]!, 'replace', 'title', [marker]);
        expected.push({ to: `pair${i}@example.test`, marker });
      }
    };
    const kills: { phase: Phase; at: number }[] = [];
    const failovers: number[] = [];

    for (let round = 0; round < KILLS; round++) {
      const running = daemons.get(leader)!;
      const from = running.mark();
      await change(`kill${round}`);
      const phase = PHASES[round % PHASES.length]!;
      const killedAt = await killAt(running, phase, from);
      kills.push({ phase, at: killedAt });
      const standby = daemons.get(other(leader))!;
      await standby.waitFor(
        (l) => became(l) && l['previousLeader'] === leader,
        `${other(leader)} takes over`,
        30_000,
      );
      failovers.push(Date.now() - killedAt);
      daemons.set(leader, start(leader as keyof typeof configs));
      await daemons
        .get(leader)!
        .waitFor((l) => l['message'] === 'standing by', `${leader} back as standby`, 30_000);
      leader = other(leader);
    }

    // The database stops under them, changes are made meanwhile, and it comes back.
    await change('db-down');
    postgres.server.stop();
    const downAt = Date.now();
    await sleep((LEASE_SECONDS + 2) * 1_000);
    await change('db-down-more');
    postgres.server.startAgain();
    const lines = () => [...daemons.values()].flatMap((d) => d.lines());
    await expect
      .poll(() => lines().filter((l) => l['message'] === 'state database reachable again').length, {
        timeout: 30_000,
      })
      .toBe(2);
    const dbOutage = Date.now() - downAt;

    // The leader is paused past its lease in the middle of a cycle, then resumed.
    leader = await currentLeader(bed);
    const paused = daemons.get(leader)!;
    const before = paused.mark();
    await change('paused');
    await paused.waitFor(
      (l) => l['message'] === 'read page' && Number(l['entries']) > 0,
      'the leader reading changes',
      20_000,
      before,
    );
    paused.child.kill('SIGSTOP');
    const pausedAt = Date.now();
    const standby = daemons.get(other(leader))!;
    await standby.waitFor(
      (l) => became(l) && l['previousLeader'] === leader,
      'the standby takes over',
      30_000,
    );
    const pauseFailover = Date.now() - pausedAt;
    await change('after-pause');
    await sleep(2_000);
    const resumed = paused.mark();
    paused.child.kill('SIGCONT');
    await paused.waitFor(
      (l) => l['message'] === 'lost leadership; standing by',
      'the paused one stands by',
      20_000,
      resumed,
    );
    // Woken up deposed, it committed nothing: no cycle done before it knew.
    const afterResume = paused.lines().slice(resumed);
    const lostAt = afterResume.findIndex((l) => l['message'] === 'lost leadership; standing by');
    expect(afterResume.slice(0, lostAt).filter((l) => l['message'] === 'cycle done')).toEqual([]);

    // Left alone, the pair delivers the rest.
    const delivered = () =>
      tally(
        expected,
        smtp.messages.map((m) => ({ to: m.to, text: m.parsed.text ?? '' })),
      );
    const deadline = Date.now() + 90_000;
    while (delivered().lost.length > 0 && Date.now() < deadline) await sleep(250);
    await sleep(2_000);
    for (const d of daemons.values()) d.child.kill('SIGTERM');
    for (const d of daemons.values()) expect((await d.exited).code).toBe(0);

    const result = delivered();
    const byPhase = PHASES.map((p) => `${kills.filter((k) => k.phase === p).length} ${p}`).join(', ');
    const sorted = [...failovers].sort((x, y) => x - y);
    process.stdout.write(
      `\nactive/standby failover (leaseSeconds ${LEASE_SECONDS}, poll 1s): after SIGKILL median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms over ${sorted.length}; after SIGSTOP ${pauseFailover} ms; database outage ${dbOutage} ms until both reconnected; duplicates ${result.duplicated}\n`,
    );
    record({
      scenario: 'active/standby failover',
      faults: `${kills.length} leader SIGKILLs (${byPhase}), 1 database restart, 1 SIGSTOP past the lease`,
      changes: expected.length,
      expected: expected.length,
      ...counts(result),
    });
    expect(result.lost, 'messages never delivered').toEqual([]);
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
    // A standby takes over within the lease, one renewal and a poll (with slack for the machine).
    expect(sorted.at(-1)).toBeLessThan((LEASE_SECONDS + LEASE_SECONDS / 3 + 1) * 1_000 + 3_000);

    // Each change one event, however many leaders its cycle saw die.
    const history = await bed.run('history', '--since', '1h', '--json');
    expect(history.code, history.stderr).toBe(0);
    const events = JSON.parse(history.stdout) as { changes?: { after: string[] }[] }[];
    for (const { marker } of expected) {
      expect(
        events.filter((e) => e.changes?.some((c) => c.after.includes(marker))),
        marker,
      ).toHaveLength(1);
    }
    const outbox = await bed.run('outbox', 'list', '--json');
    expect((JSON.parse(outbox.stdout) as { status: string }[]).filter((r) => r.status !== 'sent')).toEqual(
      [],
    );
    expectNoSecrets([samba.password, PG_PASSWORD]);
  });
});

async function currentLeader(bed: Bed): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const status = await bed.run('status', '--json');
    const leader = (JSON.parse(status.stdout) as { leader: { instance: string } | null }).leader;
    if (leader) return leader.instance;
    await sleep(200);
  }
  throw new Error('no instance took the lease after the database came back');
}
