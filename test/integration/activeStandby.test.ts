/**
 * An active/standby pair on PostgreSQL against Samba and an SMTP capture, from the command
 * line and the config file: two `adnotify run` on one database, one leads and tells each
 * change once; the leader killed, the standby takes over within the lease and goes on; status,
 * /healthz and /metrics say who leads; `once` beside a live leader exits 75 naming it. And
 * migrate-state: SQLite to PostgreSQL and back, the first `once` after each switch an
 * incremental cycle that tells nothing twice. A database that cannot be reached exits 69, a
 * refused password 77; the password appears in no output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, tempDir, writeConfig } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { freePort, startDaemon, type Running } from '../support/daemon.js';
import { PG_PASSWORD, requirePostgres, postgresForFile } from '../support/postgres.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();
const withPostgres = requirePostgres();

const postgres = postgresForFile(!!samba && withPostgres);

/** The state block of a config on PostgreSQL: the URL, its password from the environment. */
const ON_POSTGRES = '  backend: postgres\n  url: "${env:TEST_PG_URL}"\n';

interface StatusJson {
  leader: { instance: string; since: string; heartbeatAt: string } | null;
  instances: { instance: string; role: string; heartbeatAt: string }[];
  directory: { usnCursor: string } | null;
}

describe.skipIf(!samba || !withPostgres)('active/standby on PostgreSQL (Samba AD DC, SMTP capture)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);
  const running: Running[] = [];
  const outputs: string[] = [];

  afterEach(() => {
    for (const r of running.splice(0)) {
      outputs.push(r.output());
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });

  afterAll(() => {
    for (const text of outputs) expect(text).not.toContain(PG_PASSWORD);
  });

  const subjects = (subject: string) => bed.smtp.messages.filter((m) => m.parsed.subject === subject);

  it('two daemons: one leads and tells each change once; the leader killed, the standby takes over and goes on', async () => {
    const url = await postgres.server.database();
    const [portA, portB] = [await freePort(), await freePort()];
    let ann = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'pair',
      async (ou) => {
        ann = await bed.admin.person(ou, 'Ann');
      },
      {
        smtpPort: bed.smtp.port,
        smtpExtra: '  to: [ops@example.test]',
        stateExtra: ON_POSTGRES,
        env: { TEST_PG_URL: url },
        extra: `notify: { objectModified: true }\npoll: { schedule: "1s" }\nha: { instance: "node-a", leaseSeconds: 3 }\nhttp: { listen: "127.0.0.1:${portA}" }\nalerts: { noSuccessFor: "2s" }`,
      },
    );
    const configB = join(watch.dir, 'b.yaml');
    writeFileSync(
      configB,
      readFileSync(watch.config, 'utf8').replace('node-a', 'node-b').replace(`:${portA}`, `:${portB}`),
    );

    const a = startDaemon(watch.config, watch.env);
    running.push(a);
    await a.waitFor((l) => l['message'] === 'became leader' && l['instance'] === 'node-a', 'a leads');
    const b = startDaemon(configB, watch.env);
    running.push(b);
    await b.waitFor((l) => l['message'] === 'standing by' && l['leader'] === 'node-a', 'b stands by');
    await a.waitFor((l) => l['message'] === 'poll done', 'a polls');

    await bed.admin.modify(ann, 'replace', 'title', ['Director']);
    await a.waitFor((l) => l['message'] === 'poll done' && l['events'] === 1, 'a tells the change');
    await expect.poll(() => subjects('Changes to user Ann').length, { timeout: 10_000 }).toBe(1);

    // Who leads, in status, /healthz and /metrics; a standby is healthy.
    const status = await watch.run('status', '--json');
    expect(status.code, status.stderr).toBe(0);
    const json = JSON.parse(status.stdout) as StatusJson;
    expect(json.leader).toMatchObject({ instance: 'node-a' });
    expect(json.instances.map((i) => [i.instance, i.role])).toEqual([
      ['node-a', 'leader'],
      ['node-b', 'standby'],
    ]);
    const plain = await watch.run('status');
    expect(plain.stdout).toMatch(/^leader: +node-a since /m);
    expect(plain.stdout).toMatch(/node-b standby, seen /);
    for (const [port, role, leader] of [
      [portA, 'leader', 1],
      [portB, 'standby', 0],
    ] as const) {
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ healthy: true, role });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`^adnotify_leader ${leader}$`, 'm'));
    }

    const check = await watch.run('check-config', '--connect');
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(
      /^state: connected to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+; node-a leads$/m,
    );

    // A standby does not poll, and raises no alert for it: the alerts are the leader's.
    await new Promise((r) => setTimeout(r, 3_000));
    const alerts = () =>
      bed.smtp.messages.filter((m) => /no successful poll|polls succeed again/.test(m.parsed.subject ?? ''));
    expect(alerts()).toEqual([]);

    // once beside a live leader: exits 75, naming it, having done nothing.
    const once = await watch.run('once');
    expect(once.code).toBe(75);
    expect(once.stderr).toMatch(/node-a holds the leader lease/);

    // The leader dies: the standby takes over within the lease and one poll, and goes on.
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await b.waitFor(
      (l) => l['message'] === 'became leader' && l['previousLeader'] === 'node-a',
      'b takes over',
    );
    const takeover = Date.now() - killedAt;
    expect(takeover).toBeLessThan(3_000 + 1_000 + 2_000);
    const from = b.mark();
    await bed.admin.modify(ann, 'replace', 'title', ['Managing Director']);
    await b.waitFor(
      (l) => l['message'] === 'poll done' && l['events'] === 1,
      'b tells the change',
      20_000,
      from,
    );
    await expect.poll(() => subjects('Changes to user Ann').length, { timeout: 10_000 }).toBe(2);

    // Each change one event, told once; nothing waits in the outbox.
    const history = await watch.run('history', '--since', '1h', '--json');
    const titles = (JSON.parse(history.stdout) as { changes?: { after: string[] }[] }[]).flatMap(
      (e) => e.changes?.flatMap((c) => c.after) ?? [],
    );
    expect(titles.filter((t) => t === 'Director')).toHaveLength(1);
    expect(titles.filter((t) => t === 'Managing Director')).toHaveLength(1);

    // The database goes away: the instance says it is not healthy (and why), /metrics still
    // answers; once the database is back, it is healthy again.
    postgres.server.stop();
    const healthOfB = async () => {
      const response = await fetch(`http://127.0.0.1:${portB}/healthz`);
      return { status: response.status, body: (await response.json()) as { reasons: string[] } };
    };
    await expect.poll(async () => (await healthOfB()).status, { timeout: 15_000 }).toBe(503);
    expect((await healthOfB()).body.reasons.join()).toMatch(/the state database cannot be reached/);
    const metricsDown = await fetch(`http://127.0.0.1:${portB}/metrics`);
    expect(metricsDown.status).toBe(200);
    expect(await metricsDown.text()).toMatch(/^adnotify_leader \d$/m);
    postgres.server.startAgain();
    await expect.poll(async () => (await healthOfB()).status, { timeout: 20_000 }).toBe(200);

    b.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    expect(b.lines().some((l) => l['message'] === 'lease released')).toBe(true);
    const after = JSON.parse((await watch.run('status', '--json')).stdout) as StatusJson;
    expect(after.leader).toBeNull();
    for (const text of [status.stdout, plain.stdout, check.stdout, once.stderr, history.stdout]) {
      expect(text).not.toContain(PG_PASSWORD);
    }
  });

  it('migrate-state: SQLite to PostgreSQL and back; the first once after each switch tells only what is new', async () => {
    let bob = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'migrate',
      async (ou) => {
        bob = await bed.admin.person(ou, 'Bob');
      },
      { smtpPort: bed.smtp.port, extra: 'notify: { objectModified: true }' },
    );
    await bed.admin.modify(bob, 'replace', 'title', ['Before the move']);
    expect((await watch.cycle()).events).toHaveLength(1);
    // Changed while the state moves: told once, after the switch.
    await bed.admin.modify(bob, 'replace', 'title', ['During the move']);

    const url = await postgres.server.database();
    const moved = await watch.run('migrate-state', '--to', url);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/^objects +1 rows$/m);
    expect(moved.stdout).toMatch(/^copied .*adnotify\.db to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/m);
    expect(moved.stdout).not.toContain(PG_PASSWORD);
    // Copying again is refused: the database holds state now.
    const again = await watch.run('migrate-state', '--to', url);
    expect(again.code).toBe(64);
    expect(again.stderr).toMatch(/already holds adnotify state/);

    const onSqlite = readFileSync(watch.config, 'utf8');
    writeFileSync(watch.config, onSqlite.replace(/^state:\n/m, `state:\n${ON_POSTGRES}`));
    watch.env = { ...watch.env, TEST_PG_URL: url };
    const first = await watch.cycle();
    expect(first.stdout).toMatch(/^incremental: 1 events from 1 changed objects/);
    expect(first.events.map((e) => e.type)).toEqual(['object.modified']);
    expect(JSON.stringify(first.events)).toContain('During the move');
    expect(subjects('Changes to user Bob')).toHaveLength(2);

    // And back to a new SQLite file.
    const file = join(tempDir(), 'back.db');
    const back = await watch.run('migrate-state', '--to', file);
    expect(back.code, back.stderr).toBe(0);
    writeFileSync(watch.config, onSqlite.replace(/^( {2}path: ).*$/m, `$1${JSON.stringify(file)}`));
    const idle = await watch.once();
    expect(idle.stdout).toMatch(/^incremental: nothing changed/);
    expect(subjects('Changes to user Bob')).toHaveLength(2);
  });

  it('an unreachable database exits 69 naming the host; a refused password exits 77 without printing it', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, samba, {
      baseDN: samba.baseDN,
      smtpPort: bed.smtp.port,
      stateExtra: ON_POSTGRES,
    });
    const port = await freePort();
    const down = await runWith(config, `postgres://adnotify:${PG_PASSWORD}@127.0.0.1:${port}/adnotify`);
    expect(down.code).toBe(69);
    expect(down.stderr).toContain(`127.0.0.1:${port}`);
    const url = await postgres.server.database();
    const refused = await runWith(config, url.replace(encodeURIComponent(PG_PASSWORD), 'wrong-pw-7c1'));
    expect(refused.code).toBe(77);
    expect(refused.stderr).toMatch(/refused the credentials/);
    for (const r of [down, refused]) {
      expect(`${r.stdout}${r.stderr}`).not.toContain(PG_PASSWORD);
      expect(`${r.stdout}${r.stderr}`).not.toContain('wrong-pw-7c1');
    }
    // `run` refuses to start the same way.
    const daemon = startDaemon(config, {
      TEST_BIND_PASSWORD: samba.password,
      TEST_PG_URL: `postgres://adnotify:${PG_PASSWORD}@127.0.0.1:${port}/adnotify`,
    });
    running.push(daemon);
    expect((await daemon.exited).code).toBe(69);
    expect(daemon.output()).not.toContain(PG_PASSWORD);
  });

  async function runWith(config: string, url: string) {
    return runCli(['--config', config, 'once'], { TEST_BIND_PASSWORD: samba!.password, TEST_PG_URL: url });
  }
});
