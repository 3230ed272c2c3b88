/**
 * Latency and notification load, for npm run bench: `adnotify run` (the built executable)
 * against the seeded DC and an SMTP sink on loopback, once with poll.trigger schedule (at the
 * default interval) and once with notification. Latency: from a change's LDAP modify response
 * to its mail accepted by the sink, p50 and p95 over CHANGES changes. Idle CPU: the daemon's
 * CPU time over an idle minute. Load: a burst of changes to an ignored attribute in scope (as
 * logons update lastLogonTimestamp): notifications per second the DC sends, cycles they start,
 * the daemon's CPU.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

import type { DirectoryAdmin } from '../test/support/seed.js';

const CHANGES = 20;
const IDLE_MS = Number(process.env['BENCH_IDLE_MS'] ?? 60_000);
const BURST_MS = 20_000;

export interface LatencyFigures {
  trigger: 'schedule' | 'notification';
  /** poll.schedule: adnotify's default (60s) unless the measurement set one. */
  schedule: string;
  p50Ms: number;
  p95Ms: number;
  /** CPU time (user + system) over an idle minute, ms. */
  idleCpuMs: number;
  /** With notification: the burst. */
  load?: { changesPerSecond: number; notificationsPerSecond: number; cycles: number; cpuPercent: number };
}

interface Sink {
  port: number;
  /** When each marker's mail was accepted. */
  accepted: Map<string, number>;
  stop: () => Promise<void>;
}

async function sink(): Promise<Sink> {
  const accepted = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      // Accepted now; the body (base64 or quoted-printable) is decoded for its marker.
      simpleParser(stream)
        .then((mail) => {
          const at = Date.now();
          for (const marker of (mail.text ?? '').match(/LAT\d+x\d+/g) ?? []) {
            if (!accepted.has(marker)) accepted.set(marker, at);
          }
        })
        .catch(() => undefined)
        .finally(() => {
          callback();
        });
    },
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.server.address() as { port: number }).port,
    accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** CPU time of a process so far (user + system), ms, from /proc. */
function cpuMs(pid: number): number {
  // Nanoseconds on a CPU of each of the process's threads (schedstat's first field): /proc/<pid>/stat
  // counts in clock ticks of 10 ms, as coarse as the idle minute's whole figure.
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    }
    if (Number.isFinite(ns) && ns > 0) return ns / 1e6;
  } catch {
    // no schedstat: ticks below
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return (ticks / hz) * 1000;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

/** `adnotify run`, its JSON log lines kept. */
function daemon(
  nodeFlags: string[],
  config: string,
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; lines: Record<string, unknown>[] } {
  const child = spawn(process.execPath, [...nodeFlags, 'dist/bin.js', '--config', config, 'run'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  child.stderr.on('data', (c: Buffer) => {
    buffer += c.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const line of parts) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  return { child, lines };
}

async function until(what: string, ms: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function measureLatency(options: {
  trigger: 'schedule' | 'notification';
  /** poll.schedule, when not adnotify's default (60s). */
  schedule?: string;
  /**
   * Writes a config watching the scope with SMTP at `port`, these extra top-level lines and
   * these lines inside `directory:`; returns its path.
   */
  config: (name: string, port: number, extra: string, directoryExtra: string) => Promise<string>;
  admin: DirectoryAdmin;
  /** The watched scope: CHANGES enabled users with mail are made there for the run, then removed. */
  ou: string;
  /** Users of the watched scope, for the burst. */
  users: readonly string[];
  env: NodeJS.ProcessEnv;
  nodeFlags: string[];
}): Promise<LatencyFigures> {
  const { trigger, admin, users, env, nodeFlags } = options;
  // Enabled accounts (with a password) with mail: the seeded ones are disabled, and a disabled
  // account is told nothing.
  const stamp = Date.now() % 1_000_000;
  const told: string[] = [];
  for (let i = 0; i < CHANGES; i++) {
    told.push(
      await admin.user(
        options.ou,
        `lat${stamp}u${i}`,
        { displayName: `Latency ${i}`, mail: `lat${stamp}u${i}@example.test` },
        { password: 'Str0ng!Passw0rd' },
      ),
    );
  }
  const smtp = await sink();
  const metricsPort = 20_000 + Math.floor(Math.random() * 20_000);
  const config = await options.config(
    // Its own config and state file for each way measured (the name is the state file's).
    `latency-${trigger}${options.schedule === undefined ? '' : `-${options.schedule}`}`,
    smtp.port,
    `notify: { objectModified: true }
poll: { trigger: ${trigger}${options.schedule === undefined ? '' : `, schedule: "${options.schedule}"`} }
http: { listen: "127.0.0.1:${metricsPort}" }
logging: { level: info, format: json }`,
    // The burst changes description, which this config ignores, as logons change lastLogonTimestamp.
    '  attributes: { ignore: [description] }',
  );
  const baseline = spawnSync(process.execPath, [...nodeFlags, 'dist/bin.js', '--config', config, 'once'], {
    env,
    encoding: 'utf8',
  });
  if (baseline.status !== 0) throw new Error(`bench: the baseline failed: ${baseline.stderr}`);
  const run = daemon(nodeFlags, config, env);
  try {
    await until('the daemon to start', 60_000, () => run.lines.some((l) => l['message'] === 'poll done'));
    if (trigger === 'notification') {
      await until('the notification search', 30_000, () =>
        run.lines.some((l) => l['message'] === 'poll trigger: notification'),
      );
    }
    const pid = run.child.pid ?? 0;
    const idleFrom = cpuMs(pid);
    await sleep(IDLE_MS);
    const idleCpuMs = cpuMs(pid) - idleFrom;

    // Changes spread over a poll interval (3 s apart), so that with the schedule each waits
    // for its own part of the interval.
    const modified = new Map<string, number>();
    for (let i = 0; i < CHANGES; i++) {
      const marker = `LAT${i}x${stamp}`;
      await admin.modify(told[i]!, 'replace', 'title', [marker]);
      modified.set(marker, Date.now());
      await sleep(3_000);
    }
    await until('every change to be mailed', 180_000, () =>
      [...modified.keys()].every((m) => smtp.accepted.has(m)),
    ).catch((err: unknown) => {
      const tail = run.lines.slice(-30).map((l) => JSON.stringify(l));
      throw new Error(
        `${String(err)}; ${smtp.accepted.size} mailed; the daemon's last lines:\n${tail.join('\n')}`,
      );
    });
    const latencies = [...modified].map(([marker, at]) => (smtp.accepted.get(marker) ?? NaN) - at);
    const figures: LatencyFigures = {
      trigger,
      schedule: options.schedule ?? '60s',
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      idleCpuMs,
    };
    if (trigger === 'notification') figures.load = await burst(admin, users, pid, metricsPort);
    return figures;
  } finally {
    run.child.kill('SIGTERM');
    await new Promise((r) => run.child.once('exit', r));
    await smtp.stop();
    for (const dn of told) await admin.delete(dn).catch(() => undefined);
  }
}

/**
 * A busy DC: BURST_MS of changes to `description` (ignored: see the config) of users in scope,
 * as fast as one connection makes them. Returns what the DC sent and what it cost adnotify.
 */
async function burst(
  admin: DirectoryAdmin,
  users: readonly string[],
  pid: number,
  metricsPort: number,
): Promise<NonNullable<LatencyFigures['load']>> {
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  };
  const [notifications0, cycles0, cpu0] = [
    await metric('adnotify_notifications_total'),
    await metric('adnotify_triggered_cycles_total'),
    cpuMs(pid),
  ];
  const started = Date.now();
  let changes = 0;
  while (Date.now() - started < BURST_MS) {
    await admin.modify(users[changes % users.length]!, 'replace', 'description', [`busy ${changes}`]);
    changes++;
  }
  const seconds = (Date.now() - started) / 1000;
  await sleep(3_000); // the last debounced cycle
  return {
    changesPerSecond: changes / seconds,
    notificationsPerSecond: ((await metric('adnotify_notifications_total')) - notifications0) / seconds,
    cycles: (await metric('adnotify_triggered_cycles_total')) - cycles0,
    cpuPercent: ((cpuMs(pid) - cpu0) / 1000 / (seconds + 3)) * 100,
  };
}
