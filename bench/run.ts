/**
 * npm run bench [-- --users N] [--runs K] [--only delivery|latency|cycles|seed] [--backend-store tdb|mdb]
 *   [--ldap-workers N]:
 * adnotify against the limits of
 * the directory and the mail path (issue "Benchmark"); delivery is measured through SMTP and
 * through Microsoft Graph (loopback HTTPS identity platform and sendMail, as the tests use).
 * `--only delivery` measures delivery alone, without seeding a directory; `--only seed` seeds the
 * directory (or finds it cached) and stops; `--only cycles` the
 * baseline, idle, incremental and large-group cycles of the main scope (no mass change, latency
 * or delivery), with their targets. Seeds (once, cached in bench/.cache/) a Samba AD DC with
 * N users (default 20,000) with mail and managers, N/10 groups of 20, one group of up to
 * 10,000 members and 500 contacts, plus a scope of N/4 users for scaling; then measures each
 * figure K times (default 3), reports the median, compares with ldapsearch and plain
 * nodemailer, prints a table with the targets, and writes bench/results.json. Last, a mass
 * change: every user of the main scope modified in one window, one cycle (time, peak RSS).
 * `--backend-store mdb` provisions (and caches separately) a DC on LMDB instead of tdb;
 * `--ldap-workers N` starts the DC with N LDAP worker processes (smb.conf `prefork
 * children:ldap`) instead of Samba's default 4.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

import { SMTPServer } from 'smtp-server';

import { openStateStore } from '../src/store/open.js';
import { PostgresServer, postgresInstalled } from '../test/support/postgres.js';
import { MicrosoftGraph, MicrosoftIdentity } from '../test/support/microsoftIdentity.js';
import { ChannelReceiver, loopbackCertificate, SyslogReceiver } from '../test/support/receivers.js';
import { sambaInstalled } from '../test/support/samba.js';
import { DirectoryAdmin } from '../test/support/seed.js';
import { measureLatency, type LatencyFigures } from './latency.js';
import { restoreSeededMembers, seededDirectory, type SeededOu } from './seed.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} expects a positive whole number`);
  return value;
};
const USERS = opt('users', 20_000);
const RUNS = opt('runs', 3);
/** The word after `--<name>`, or undefined. */
const word = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const only = word('only');
const ONLY_DELIVERY = only === 'delivery';
const ONLY_LATENCY = only === 'latency';
const ONLY_CYCLES = only === 'cycles';
const ONLY_SEED = only === 'seed';
if (only !== undefined && !ONLY_DELIVERY && !ONLY_LATENCY && !ONLY_CYCLES && !ONLY_SEED) {
  throw new Error('--only expects "delivery", "latency", "cycles" or "seed"');
}
const BACKEND_STORE = word('backend-store') ?? 'tdb';
if (BACKEND_STORE !== 'tdb' && BACKEND_STORE !== 'mdb') {
  throw new Error('--backend-store expects "tdb" (samba-tool\'s default) or "mdb" (LMDB)');
}
const workers = word('ldap-workers');
if (workers !== undefined && !/^[1-9]\d*$/.test(workers)) {
  throw new Error('--ldap-workers expects a whole number of LDAP worker processes, such as 1');
}
/** LDAP worker processes of the DC; undefined: Samba's default (`prefork children`, 4). */
const LDAP_WORKERS = workers === undefined ? undefined : Number(workers);
/** How the DC is set up, as the printed figures name it. */
const DC =
  LDAP_WORKERS === undefined
    ? `Samba on ${BACKEND_STORE}, 4 LDAP workers (its default)`
    : `Samba on ${BACKEND_STORE}, ${LDAP_WORKERS} LDAP worker${LDAP_WORKERS === 1 ? '' : 's'}`;
const MESSAGES = 2_000;
const SMALL = Math.max(100, Math.round(USERS / 4));
const DEFAULT_FILTER =
  '(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group)(objectClass=contact))';
const say = (line = '') => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

if (!ONLY_DELIVERY && !sambaInstalled()) {
  say('The benchmark needs Samba AD DC: apt-get install -y samba samba-ad-dc ldb-tools ldap-utils');
  process.exit(1);
}
if (!ONLY_DELIVERY && spawnSync('sh', ['-c', 'command -v ldapsearch']).status !== 0) {
  say('The benchmark compares with ldapsearch: apt-get install -y ldap-utils');
  process.exit(1);
}
if (spawnSync('sh', ['-c', 'test -f dist/bin.js']).status !== 0) {
  say('Build first: npm run build');
  process.exit(1);
}

const plan = {
  [`Bench${USERS}`]: {
    users: USERS,
    groups: Math.round(USERS / 10),
    groupSize: 20,
    bigGroup: Math.min(10_000, Math.round(USERS / 2)),
    contacts: 500,
  },
  [`Bench${SMALL}`]: {
    users: SMALL,
    groups: Math.round(SMALL / 10),
    groupSize: 20,
    bigGroup: 0,
    contacts: 0,
  },
};
const seeded = ONLY_DELIVERY
  ? null
  : await seededDirectory(join('bench', '.cache'), plan, BACKEND_STORE, LDAP_WORKERS);
if (ONLY_SEED) {
  await seeded?.samba.stop();
  say(`The benchmark directory for ${USERS} users is seeded and cached in bench/.cache/.`);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'adnotify-bench-'));
// Delivery alone never binds: its configs name a directory that is not there.
const info = seeded?.samba.info ?? {
  url: 'ldaps://127.0.0.1:1',
  caFile: '/dev/null',
  bindDN: 'CN=bench,DC=example,DC=test',
  password: 'unused',
  baseDN: 'DC=example,DC=test',
};
const env: NodeJS.ProcessEnv = {
  ...process.env,
  BENCH_BIND_PASSWORD: info.password,
  LDAPTLS_CACERT: info.caFile,
};

/**
 * PostgreSQL started for the benchmark (loopback, a database per config), to measure the
 * same figures on the postgres backend beside SQLite; skipped, saying so, when not installed.
 */
const postgres = postgresInstalled() ? await PostgresServer.start() : null;
if (postgres === null)
  say('PostgreSQL is not installed (apt-get install -y postgresql): measuring SQLite only');
/** The state URL of each config on PostgreSQL, by name (BENCH_PG_URL_<n> in the environment). */
const databases = new Map<string, string>();

/** The state block of config `name`: its own SQLite file, or with `onPostgres` a fresh database. */
async function stateOf(name: string, onPostgres: boolean): Promise<string> {
  if (!onPostgres) return `state: { path: "${join(work, `${name}.db`)}" }`;
  if (postgres === null) throw new Error('PostgreSQL is not installed');
  const url = databases.get(name) ?? (await postgres.database());
  databases.set(name, url);
  const key = `BENCH_PG_URL_${databases.size}_${name.replaceAll(/\W/g, '_')}`;
  env[key] = url;
  return `state: { backend: postgres, url: "\${env:${key}}" }`;
}

/** A config watching `ou`, with its own state; SMTP at `smtpPort`; `extra` appended. */
async function config(
  ou: string,
  name: string,
  smtpPort = 25,
  extra = '',
  onPostgres = false,
  directoryExtra = '',
): Promise<string> {
  const file = join(work, `${name}.yaml`);
  const state = await stateOf(name, onPostgres);
  writeFileSync(
    file,
    `version: 1
directory:
  urls: ["${info.url}"]
  tls: { caFile: "${info.caFile}" }
  bindDN: "${info.bindDN}"
  bindPassword: "\${env:BENCH_BIND_PASSWORD}"
  baseDN: "${ou}"
${directoryExtra}
${state}
smtp: { host: 127.0.0.1, port: ${smtpPort}, requireTls: false, from: "adnotify <adnotify@example.test>" }
${extra}`,
  );
  return file;
}

interface ChildResult {
  ms: number;
  rssMb: number;
  ops?: number;
  events?: number;
  sent?: number;
  perSecond?: number;
}

/** The V8 flags the `adnotify` executable runs with: its shebang, `#!/usr/bin/env -S node ...`. */
const NODE_FLAGS = (readFileSync('dist/bin.js', 'utf8').split('\n', 1)[0] ?? '')
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));

/** Runs one measurement in a fresh process (async: the SMTP sink lives in this one). */
async function child(task: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  // BENCH_PROFILE=<dir>: a CPU profile of each child (`--cpu-prof` is refused in NODE_OPTIONS).
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const proc = spawn(process.execPath, [...NODE_FLAGS, ...profile, 'bench/child.mjs', ...task], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  // BENCH_MEMORY=1: where a child's resident memory is, read from outside every 10 ms (the
  // child's own sampler misses the stretches its event loop is busy).
  const memory = process.env.BENCH_MEMORY === '1' ? sampleMemory(proc.pid!) : undefined;
  const [code] = (await once(proc, 'exit')) as [number | null];
  if (memory) clearInterval(memory.timer);
  if (code !== 0) throw new Error(`bench child ${task[0] ?? ''} failed: ${err}`);
  const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ChildResult & { peak?: unknown };
  if (memory)
    say(
      `  ${task[0]}: highest RSS parts (MB) ${JSON.stringify(memory.highest)}, in-process peaks ${JSON.stringify(result.peak)}`,
    );
  return result;
}

/** The highest RssAnon, RssFile and RssShmem of process `pid` seen, sampled every 10 ms. */
function sampleMemory(pid: number): { timer: NodeJS.Timeout; highest: Record<string, number> } {
  const highest: Record<string, number> = { RssAnon: 0, RssFile: 0, RssShmem: 0, VmRSS: 0 };
  const line = /^(RssAnon|RssFile|RssShmem|VmRSS):\s+(\d+) kB/gm;
  const timer = setInterval(() => {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return; // gone
    }
    for (const [, key, kb] of status.matchAll(line)) {
      highest[key!] = Math.max(highest[key!]!, Math.round(Number(kb) / 1024));
    }
  }, 10);
  return { timer, highest };
}

/** ldapsearch reading what a cycle reads (paged, Extended DN, optionally Show Deleted), to /dev/null. */
function ldapsearch(base: string, filter: string, showDeleted = false): number {
  const started = performance.now();
  const result = spawnSync(
    'sh',
    [
      '-c',
      `ldapsearch -LLL -o ldif-wrap=no -H "$URL" -D "$BIND" -w "$BENCH_BIND_PASSWORD" -b "$BASE" -E pr=500/noprompt -E '!1.2.840.113556.1.4.529=::MAMCAQE=' ${showDeleted ? "-E '!1.2.840.113556.1.4.417'" : ''} "$FILTER" '*' objectGUID uSNChanged uSNCreated isDeleted member > /dev/null`,
    ],
    { env: { ...env, URL: info.url, BIND: info.bindDN, BASE: base, FILTER: filter }, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`ldapsearch failed: ${result.stderr}`);
  return performance.now() - started;
}

/** What an incremental cycle asks for the changes between two highestCommittedUSNs. */
function changedFilter(before: bigint, after: bigint): string {
  return `(&(uSNChanged>=${before + 1n})(uSNChanged<=${after})(|${DEFAULT_FILTER}(isDeleted=TRUE)(objectClass=organizationalUnit)(objectClass=container)))`;
}

interface ScopeFigures {
  users: number;
  baselineMs: number;
  baselineRssMb: number;
  ldapsearchBaselineMs: number;
  idleMs: number;
  idleOps: number;
  incrementalMs: number;
  incrementalEvents: number;
  incrementalRssMb: number;
  ldapsearchIncrementalMs: number;
  bigGroupMs?: number;
  bigGroupRssMb?: number;
  /** ldapsearch of the same change (the DC's share: the uSNChanged search, 10,001 members). */
  ldapsearchBigGroupMs?: number;
  /** Every user of the scope modified in one window, one cycle (once: it is slow to seed). */
  massChangeObjects?: number;
  massChangeMs?: number;
  massChangeRssMb?: number;
  massChangeEvents?: number;
  /** The same cycles with state.backend postgres (absent without PostgreSQL). */
  postgres?: { baselineMs: number; baselineRssMb: number; idleMs: number; incrementalMs: number };
}

/** The figures of one scope; with `full`, also the large-group change and (with `mass`) the mass change. */
async function measureScope(
  scope: SeededOu,
  admin: DirectoryAdmin,
  full: boolean,
  mass = full,
): Promise<ScopeFigures> {
  const p = scope.params;
  const restored = await restoreSeededMembers(admin, scope);
  if (restored > 0) say(`Put ${restored} groups of ${scope.ou} back to their seeded members.`);
  say(`Measuring ${p.users} users (${scope.ou}), node ${NODE_FLAGS.join(' ')}...`);
  const fullFilter = `(|${DEFAULT_FILTER}(objectClass=organizationalUnit)(objectClass=container))`;
  const baselines: ChildResult[] = [];
  const searches: number[] = [];
  const pgBaselines: ChildResult[] = [];
  let cfg = '';
  let pgCfg = '';
  for (let r = 0; r < RUNS; r++) {
    cfg = await config(scope.ou, `s${p.users}-${r}`);
    searches.push(ldapsearch(scope.ou, fullFilter));
    baselines.push(await child(['cycle', cfg]));
    if (postgres) {
      pgCfg = await config(scope.ou, `pg${p.users}-${r}`, 25, '', true);
      pgBaselines.push(await child(['cycle', pgCfg]));
    }
  }
  const idle: ChildResult[] = [];
  const pgIdle: ChildResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    idle.push(await child(['cycle', cfg]));
    if (postgres) pgIdle.push(await child(['cycle', pgCfg]));
  }

  const incremental: ChildResult[] = [];
  const pgIncremental: ChildResult[] = [];
  const changedSearch: number[] = [];
  const changes = Math.min(1_000, p.users, p.groups);
  for (let r = 0; r < RUNS; r++) {
    const before = await admin.hcu();
    const stamp = `${Date.now()}-${r}`;
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < Math.min(1_000, p.users); i++) {
      jobs.push(admin.modify(scope.users[i]!, 'replace', 'title', [`T${stamp}-${i}`]));
      if (jobs.length >= 16) await Promise.all(jobs.splice(0));
    }
    for (let i = 0; i < changes; i++) {
      const member = scope.users[(i * p.groupSize + p.groupSize + 1 + r * 7 + (Date.now() % 97)) % p.users]!;
      jobs.push(admin.addMembers(scope.groups[i]!, [member]).catch(() => undefined));
      if (jobs.length >= 16) await Promise.all(jobs.splice(0));
    }
    await Promise.all(jobs);
    const after = await admin.hcu();
    changedSearch.push(ldapsearch(info.baseDN, changedFilter(before, after), true));
    incremental.push(await child(['cycle', cfg]));
    if (postgres) pgIncremental.push(await child(['cycle', pgCfg]));
  }

  const figures: ScopeFigures = {
    users: p.users,
    baselineMs: median(baselines.map((b) => b.ms)),
    baselineRssMb: Math.max(...baselines.map((b) => b.rssMb)),
    ldapsearchBaselineMs: median(searches),
    idleMs: median(idle.map((b) => b.ms)),
    idleOps: Math.max(...idle.map((b) => b.ops ?? 0)),
    incrementalMs: median(incremental.map((b) => b.ms)),
    incrementalEvents: median(incremental.map((b) => b.events ?? 0)),
    incrementalRssMb: Math.max(...incremental.map((b) => b.rssMb)),
    ldapsearchIncrementalMs: median(changedSearch),
    ...(postgres && {
      postgres: {
        baselineMs: median(pgBaselines.map((b) => b.ms)),
        baselineRssMb: Math.max(...pgBaselines.map((b) => b.rssMb)),
        idleMs: median(pgIdle.map((b) => b.ms)),
        incrementalMs: median(pgIncremental.map((b) => b.ms)),
      },
    }),
  };
  if (full && scope.bigGroup !== null) {
    const big: ChildResult[] = [];
    const bigSearch: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const outsider = scope.users[p.bigGroup + ((Date.now() + r) % Math.max(1, p.users - p.bigGroup))]!;
      const before = await admin.hcu();
      await admin.addMembers(scope.bigGroup, [outsider]).catch(() => undefined);
      const after = await admin.hcu();
      bigSearch.push(ldapsearch(info.baseDN, changedFilter(before, after), true));
      big.push(await child(['cycle', cfg]));
    }
    figures.ldapsearchBigGroupMs = median(bigSearch);
    figures.bigGroupMs = median(big.map((b) => b.ms));
    figures.bigGroupRssMb = Math.max(...big.map((b) => b.rssMb));
  }
  if (mass) {
    // A mass change: every user modified between two cycles (a bulk import, a script gone
    // wrong). Each manager is told, so the flood guard holds the messages.
    say(`Mass change: modifying all ${p.users} users...`);
    const stamp = Date.now();
    const jobs: Promise<void>[] = [];
    for (const [i, dn] of scope.users.entries()) {
      jobs.push(admin.modify(dn, 'replace', 'description', [`mass ${stamp} ${i}`]));
      if (jobs.length >= 32) await Promise.all(jobs.splice(0));
    }
    await Promise.all(jobs);
    const mass = await child(['cycle', cfg]);
    figures.massChangeObjects = p.users;
    figures.massChangeMs = mass.ms;
    figures.massChangeRssMb = mass.rssMb;
    figures.massChangeEvents = mass.events ?? 0;
  }
  return figures;
}

/** An event as history --json prints it, the body of a webhook call and a SIEM record. */
const EVENT = {
  id: 0,
  cycle: 1,
  at: '2026-12-04T09:15:02.114Z',
  type: 'object.modified',
  object: {
    guid: '5f0c7a52-8d5e-4a8e-9d7b-1c0b2a7e6f11',
    dn: 'CN=User 1,OU=Staff,DC=example,DC=test',
    class: 'user',
  },
  changes: [{ attribute: 'title', before: ['Staff'], after: ['Lead'] }],
  actor: null,
};

const TEXT = 'Hello,\n\nUser 1 changed.\n\n  title: Staff -> Lead\n'.repeat(4);

/** MESSAGES notifications (or, for a channel, event records) due in the outbox of config `name`'s state. */
async function fillOutbox(name: string, channel = 'mail'): Promise<void> {
  const url = databases.get(name);
  const store = await openStateStore(
    url === undefined
      ? { backend: 'sqlite', path: join(work, `${name}.db`), retentionDays: 180 }
      : { backend: 'postgres', url, path: '', retentionDays: 180 },
  );
  const at = new Date().toISOString();
  await store.transaction(async () => {
    for (let i = 0; i < MESSAGES; i++) {
      await store.outbox.add({
        cycleId: null,
        createdAt: at,
        status: 'pending',
        kind: 'change',
        objectGuid: null,
        messageId: `<${name}-${i}@example.test>`,
        envelope: { from: 'adnotify <adnotify@example.test>', to: [`u${i}@example.test`], cc: [] },
        subject: `Changes to user User ${i}`,
        text: channel === 'mail' ? TEXT : JSON.stringify({ ...EVENT, id: i }),
        html: channel === 'mail' ? `<p>${TEXT}</p>` : '',
        channel,
      });
    }
    return Promise.resolve();
  });
  await store.close();
}

/** MESSAGES messages through adnotify's outbox and through plain pooled nodemailer, to a sink. */
async function measureDelivery(): Promise<{
  adnotify: number;
  nodemailer: number;
  rssMb: number;
  postgres: number | null;
}> {
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('end', () => {
        callback();
      });
      stream.resume();
    },
  });
  await new Promise<void>((resolve) => {
    sink.listen(0, '127.0.0.1', resolve);
  });
  const port = (sink.server.address() as { port: number }).port;
  const ours: number[] = [];
  const plain: number[] = [];
  const onPostgres: number[] = [];
  let rssMb = 0;
  for (let r = 0; r < RUNS; r++) {
    const cfg = await config('DC=example,DC=test', `deliver-${r}`, port);
    await fillOutbox(`deliver-${r}`);
    const result = await child(['deliver', cfg]);
    ours.push(result.perSecond ?? 0);
    rssMb = Math.max(rssMb, result.rssMb);
    plain.push((await child(['nodemailer', String(port), String(MESSAGES)])).perSecond ?? 0);
    if (postgres) {
      const pgCfg = await config('DC=example,DC=test', `deliver-pg-${r}`, port, '', true);
      await fillOutbox(`deliver-pg-${r}`);
      onPostgres.push((await child(['deliver', pgCfg])).perSecond ?? 0);
    }
  }
  await new Promise<void>((resolve) => {
    sink.close(() => {
      resolve();
    });
  });
  return {
    adnotify: median(ours),
    nodemailer: median(plain),
    rssMb,
    postgres: postgres ? median(onPostgres) : null,
  };
}

/**
 * MESSAGES messages through adnotify's outbox with delivery.transport graph: a token from the
 * loopback identity platform, then one HTTPS sendMail (MIME, base64) each, to the loopback
 * Graph endpoint the tests use (it checks the token and parses each message).
 */
async function measureGraphDelivery(): Promise<{ perSecond: number; rssMb: number }> {
  const identity = await MicrosoftIdentity.start();
  const graph = await MicrosoftGraph.start(identity);
  const rates: number[] = [];
  let rssMb = 0;
  try {
    for (let r = 0; r < RUNS; r++) {
      const cfg = await config(
        'DC=example,DC=test',
        `graph-${r}`,
        25,
        `delivery: { transport: graph }
microsoft365:
  tenantId: "${identity.tenantId}"
  clientId: "${identity.clientId}"
  clientSecret: "\${env:BENCH_CLIENT_SECRET}"
  authorityHost: "${identity.authorityHost}"
  graphBaseUrl: "${graph.baseUrl}"
`,
      );
      await fillOutbox(`graph-${r}`);
      const result = await child(['deliver', cfg], {
        NODE_EXTRA_CA_CERTS: identity.caFile,
        BENCH_CLIENT_SECRET: identity.clientSecret,
      });
      if (graph.messages.splice(0).length !== MESSAGES) throw new Error('Graph did not get every message');
      rates.push(result.perSecond ?? 0);
      rssMb = Math.max(rssMb, result.rssMb);
    }
  } finally {
    await graph.stop();
    await identity.stop();
  }
  return { perSecond: median(rates), rssMb };
}

/**
 * Fan-out: MESSAGES events through adnotify's outbox to a signed webhook on loopback HTTPS
 * (the test receiver, which verifies every signature) and to syslog over TCP, events/s.
 */
async function measureFanOut(): Promise<{ webhook: number; syslog: number }> {
  const ca = loopbackCertificate();
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const hook = await ChannelReceiver.start('webhook', { tls: ca, secret });
  const syslog = await SyslogReceiver.start('tcp');
  const webhook: number[] = [];
  const records: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const extra = `channels:\n  - { name: hook, type: webhook, url: "${hook.url()}", secret: "${secret}" }\nsiem:\n  syslog: "${syslog.url()}"\n`;
      const cfg = await config('DC=example,DC=test', `fanout-${r}`, 25, extra);
      await fillOutbox(`fanout-${r}`, 'hook');
      const viaHook = await child(['channel', cfg, 'hook'], { NODE_EXTRA_CA_CERTS: ca.caFile });
      if (hook.received.splice(0).some((x) => x.problems.length > 0))
        throw new Error('a webhook call did not verify');
      webhook.push(viaHook.perSecond ?? 0);
      await fillOutbox(`fanout-${r}-siem`, 'siem.syslog');
      const siemCfg = await config('DC=example,DC=test', `fanout-${r}-siem`, 25, extra);
      records.push((await child(['channel', siemCfg, 'siem.syslog'])).perSecond ?? 0);
    }
  } finally {
    await hook.stop();
    await syslog.stop();
  }
  return { webhook: median(webhook), syslog: median(records) };
}

if (ONLY_DELIVERY) {
  try {
    say(`Measuring delivery (${MESSAGES} messages, median of ${RUNS})...`);
    const delivery = await measureDelivery();
    const graph = await measureGraphDelivery();
    say(
      `SMTP:  adnotify ${delivery.adnotify.toFixed(0)} messages/s, plain nodemailer ${delivery.nodemailer.toFixed(0)}, peak RSS ${delivery.rssMb.toFixed(0)} MB`,
    );
    if (delivery.postgres !== null) {
      say(
        `SMTP with state on PostgreSQL: ${delivery.postgres.toFixed(0)} messages/s (${(delivery.adnotify / delivery.postgres).toFixed(2)} x slower than SQLite)`,
      );
    }
    say(`Graph: adnotify ${graph.perSecond.toFixed(0)} messages/s, peak RSS ${graph.rssMb.toFixed(0)} MB`);
    const fanOut = await measureFanOut();
    say(
      `Fan-out: webhook ${fanOut.webhook.toFixed(0)} events/s, syslog (TCP) ${fanOut.syslog.toFixed(0)} events/s`,
    );
  } finally {
    postgres?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}
const { samba, scopes } = seeded!;

/** Latency with each trigger, on the smaller scope (its baselines are quicker; a change costs the same). */
async function measureLatencies(
  small: SeededOu,
  admin: DirectoryAdmin,
): Promise<[LatencyFigures, LatencyFigures, LatencyFigures]> {
  const figures: LatencyFigures[] = [];
  // The default schedule, notifications, and a schedule of every second: on a Samba DC, whose
  // notifications from another process wait for a 5 s timer, what polling that often costs.
  const ways = [
    { trigger: 'schedule' },
    { trigger: 'notification' },
    { trigger: 'schedule', schedule: '1s' },
  ] as const;
  for (const way of ways) {
    const every = 'schedule' in way ? `, poll.schedule ${way.schedule}` : '';
    say(`Measuring latency with poll.trigger ${way.trigger}${every} (20 changes, 3 s apart)...`);
    figures.push(
      await measureLatency({
        ...way,
        config: (name, port, extra, directoryExtra) =>
          config(small.ou, name, port, extra, false, directoryExtra),
        admin,
        ou: small.ou,
        users: small.users,
        env,
        nodeFlags: NODE_FLAGS,
      }),
    );
  }
  return figures as [LatencyFigures, LatencyFigures, LatencyFigures];
}

const ratio = (a: number, b: number) => a / b;

/** The targets of the cycles on the main scope: [name, figure, target, met]. */
function cycleTargets(big: ScopeFigures): (readonly [string, string, string, boolean])[] {
  return [
    [
      'baseline vs ldapsearch',
      `${ratio(big.baselineMs, big.ldapsearchBaselineMs).toFixed(2)} x`,
      '≤ 1.2 x',
      ratio(big.baselineMs, big.ldapsearchBaselineMs) <= 1.2,
    ],
    [
      'incremental vs ldapsearch',
      `${ratio(big.incrementalMs, big.ldapsearchIncrementalMs).toFixed(2)} x`,
      '≤ 1.5 x',
      ratio(big.incrementalMs, big.ldapsearchIncrementalMs) <= 1.5,
    ],
    ['idle cycle round trips', `${big.idleOps}`, '≤ 3', big.idleOps <= 3],
    ['idle cycle time', `${big.idleMs.toFixed(0)} ms`, '< 100 ms', big.idleMs < 100],
    [
      'large group, one change',
      `${(big.bigGroupMs ?? NaN).toFixed(0)} ms`,
      '< 1000 ms',
      (big.bigGroupMs ?? Infinity) < 1000,
    ],
    [
      `peak RSS at ${big.users} users, baseline`,
      `${big.baselineRssMb.toFixed(0)} MB`,
      '≤ 150 MB',
      big.baselineRssMb <= 150,
    ],
    [
      `peak RSS at ${big.users} users, incremental`,
      `${big.incrementalRssMb.toFixed(0)} MB`,
      '≤ 150 MB',
      big.incrementalRssMb <= 150,
    ],
  ];
}

function printTargets(targets: readonly (readonly [string, string, string, boolean])[]): void {
  say('target                                 figure                       target     met');
  for (const [name, figure, target, met] of targets)
    say(`${name.padEnd(38)} ${figure.padEnd(28)} ${target.padEnd(10)} ${met ? 'yes' : 'NO'}`);
}

/** Runs one `--only` part against the seeded directory, then stops everything and exits. */
async function onlyThis(part: (admin: DirectoryAdmin) => Promise<void>): Promise<never> {
  const admin = await DirectoryAdmin.connect(samba.info);
  try {
    await part(admin);
  } finally {
    await admin.close();
    await samba.stop();
    postgres?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}

if (ONLY_CYCLES) {
  await onlyThis(async (admin) => {
    const big = await measureScope(scopes[0]!, admin, true, false);
    say(
      `${big.users} users (${DC}), median of ${RUNS}: baseline ${big.baselineMs.toFixed(0)} ms (ldapsearch ${big.ldapsearchBaselineMs.toFixed(0)} ms), peak RSS ${big.baselineRssMb.toFixed(0)} MB; idle ${big.idleMs.toFixed(0)} ms, ${big.idleOps} requests; incremental ${big.incrementalMs.toFixed(0)} ms (ldapsearch ${big.ldapsearchIncrementalMs.toFixed(0)} ms), ${big.incrementalEvents} events, peak RSS ${big.incrementalRssMb.toFixed(0)} MB; large group ${(big.bigGroupMs ?? NaN).toFixed(0)} ms (ldapsearch ${(big.ldapsearchBigGroupMs ?? NaN).toFixed(0)} ms), ${(big.bigGroupRssMb ?? NaN).toFixed(0)} MB`,
    );
    if (big.postgres) {
      say(
        `  on PostgreSQL: baseline ${big.postgres.baselineMs.toFixed(0)} ms, ${big.postgres.baselineRssMb.toFixed(0)} MB; idle ${big.postgres.idleMs.toFixed(0)} ms; incremental ${big.postgres.incrementalMs.toFixed(0)} ms`,
      );
    }
    say();
    printTargets(cycleTargets(big));
  });
}

if (ONLY_LATENCY) {
  await onlyThis(async (admin) => {
    say(`Latency against ${DC}:`);
    for (const f of await measureLatencies(scopes[1]!, admin)) {
      say(
        `${f.trigger} (poll.schedule ${f.schedule}): latency p50 ${(f.p50Ms / 1000).toFixed(2)} s, p95 ${(f.p95Ms / 1000).toFixed(2)} s; idle CPU ${f.idleCpuMs.toFixed(1)} ms per minute`,
      );
      if (f.load) {
        say(
          `  busy DC: ${f.load.changesPerSecond.toFixed(0)} changes/s sent ${f.load.notificationsPerSecond.toFixed(0)} notifications/s, ${f.load.cycles} cycles, adnotify CPU ${f.load.cpuPercent.toFixed(0)} %`,
        );
      }
    }
  });
}

try {
  const admin = await DirectoryAdmin.connect(samba.info);
  const [main, small] = scopes as [SeededOu, SeededOu];
  const big = await measureScope(main, admin, true);
  const scaled = await measureScope(small, admin, false);
  const [onSchedule, onNotification, everySecond] = await measureLatencies(small, admin);
  await admin.close();
  say(`Measuring delivery (${MESSAGES} messages)...`);
  const delivery = await measureDelivery();
  const graph = await measureGraphDelivery();
  const fanOut = await measureFanOut();

  const targets = [
    ...cycleTargets(big),
    [
      'delivery vs nodemailer',
      `${ratio(delivery.adnotify, delivery.nodemailer).toFixed(2)} x`,
      '≥ 0.8 x',
      ratio(delivery.adnotify, delivery.nodemailer) >= 0.8,
    ],
    ...(big.postgres && delivery.postgres !== null
      ? ([
          [
            'PostgreSQL vs SQLite, baseline',
            `${ratio(big.postgres.baselineMs, big.baselineMs).toFixed(2)} x`,
            '≤ 1.5 x',
            ratio(big.postgres.baselineMs, big.baselineMs) <= 1.5,
          ],
          [
            'PostgreSQL vs SQLite, incremental',
            `${ratio(big.postgres.incrementalMs, big.incrementalMs).toFixed(2)} x`,
            '≤ 1.5 x',
            ratio(big.postgres.incrementalMs, big.incrementalMs) <= 1.5,
          ],
          [
            'PostgreSQL vs SQLite, delivery',
            `${ratio(delivery.adnotify, delivery.postgres).toFixed(2)} x`,
            '≤ 1.5 x',
            ratio(delivery.adnotify, delivery.postgres) <= 1.5,
          ],
        ] as const)
      : []),
    [
      'latency p95 with notification',
      `${(onNotification.p95Ms / 1000).toFixed(1)} s`,
      '< 2 s',
      onNotification.p95Ms < 2_000,
    ],
    [
      'idle CPU, notification vs schedule',
      `${onNotification.idleCpuMs.toFixed(1)} vs ${onSchedule.idleCpuMs.toFixed(1)} ms/min`,
      // Measured to the microsecond (schedstat). Allowed: 10 % of noise, and 5 ms for the one
      // request a minute that finds a silently cut notification connection (~1.6 ms measured).
      'no higher (+10 %, 5 ms)',
      onNotification.idleCpuMs <= onSchedule.idleCpuMs * 1.1 + 5,
    ],
    [
      'RSS growth vs directory growth',
      `${(big.baselineRssMb / scaled.baselineRssMb).toFixed(2)} x for ${(big.users / scaled.users).toFixed(0)} x users`,
      'far slower',
      big.baselineRssMb / scaled.baselineRssMb < big.users / scaled.users / 2,
    ],
  ] as const;

  say();
  say(
    `Machine: ${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GB; Node ${process.version}; ${DC}; median of ${RUNS} runs`,
  );
  say();
  const rows = [
    ['figure', `${scaled.users} users`, `${big.users} users`],
    [
      'baseline (adnotify once, empty state)',
      `${scaled.baselineMs.toFixed(0)} ms`,
      `${big.baselineMs.toFixed(0)} ms`,
    ],
    [
      '  ldapsearch, same scope and attributes',
      `${scaled.ldapsearchBaselineMs.toFixed(0)} ms`,
      `${big.ldapsearchBaselineMs.toFixed(0)} ms`,
    ],
    ['  peak RSS', `${scaled.baselineRssMb.toFixed(0)} MB`, `${big.baselineRssMb.toFixed(0)} MB`],
    [
      'idle cycle',
      `${scaled.idleMs.toFixed(0)} ms, ${scaled.idleOps} requests`,
      `${big.idleMs.toFixed(0)} ms, ${big.idleOps} requests`,
    ],
    [
      'incremental (1,000 users + 1,000 memberships)',
      `${scaled.incrementalMs.toFixed(0)} ms`,
      `${big.incrementalMs.toFixed(0)} ms`,
    ],
    ['  events', `${scaled.incrementalEvents}`, `${big.incrementalEvents}`],
    [
      '  ldapsearch, the changed entries',
      `${scaled.ldapsearchIncrementalMs.toFixed(0)} ms`,
      `${big.ldapsearchIncrementalMs.toFixed(0)} ms`,
    ],
    [
      `one member added to the ${main.params.bigGroup}-member group`,
      '',
      `${(big.bigGroupMs ?? NaN).toFixed(0)} ms, ${(big.bigGroupRssMb ?? NaN).toFixed(0)} MB`,
    ],
    ['  ldapsearch of the same change', '', `${(big.ldapsearchBigGroupMs ?? NaN).toFixed(0)} ms`],
    [
      `mass change: all ${big.massChangeObjects ?? '?'} users modified, one cycle`,
      '',
      `${((big.massChangeMs ?? NaN) / 1000).toFixed(1)} s, ${(big.massChangeRssMb ?? NaN).toFixed(0)} MB, ${big.massChangeEvents ?? '?'} events`,
    ],
    [
      'delivery, messages/s (adnotify / nodemailer)',
      '',
      `${delivery.adnotify.toFixed(0)} / ${delivery.nodemailer.toFixed(0)}`,
    ],
    ...(scaled.postgres && big.postgres
      ? [
          [
            'state on PostgreSQL: baseline',
            `${scaled.postgres.baselineMs.toFixed(0)} ms`,
            `${big.postgres.baselineMs.toFixed(0)} ms, ${big.postgres.baselineRssMb.toFixed(0)} MB`,
          ],
          ['  idle cycle', `${scaled.postgres.idleMs.toFixed(0)} ms`, `${big.postgres.idleMs.toFixed(0)} ms`],
          [
            '  incremental (as above)',
            `${scaled.postgres.incrementalMs.toFixed(0)} ms`,
            `${big.postgres.incrementalMs.toFixed(0)} ms`,
          ],
          ['  delivery, messages/s', '', (delivery.postgres ?? NaN).toFixed(0)],
        ]
      : []),
    ['delivery through Microsoft Graph, messages/s', '', graph.perSecond.toFixed(0)],
    [
      'latency, change to mail accepted (p50 / p95), schedule',
      '',
      `${(onSchedule.p50Ms / 1000).toFixed(1)} / ${(onSchedule.p95Ms / 1000).toFixed(1)} s`,
    ],
    [
      '  notification',
      '',
      `${(onNotification.p50Ms / 1000).toFixed(1)} / ${(onNotification.p95Ms / 1000).toFixed(1)} s`,
    ],
    [
      '  schedule every second',
      '',
      `${(everySecond.p50Ms / 1000).toFixed(1)} / ${(everySecond.p95Ms / 1000).toFixed(1)} s`,
    ],
    [
      'idle daemon CPU per minute (schedule / notification)',
      '',
      `${onSchedule.idleCpuMs.toFixed(1)} / ${onNotification.idleCpuMs.toFixed(1)} ms`,
    ],
    ['  schedule every second', '', `${everySecond.idleCpuMs.toFixed(1)} ms`],
    [
      'busy DC: changes/s, notifications/s, cycles, CPU',
      '',
      onNotification.load
        ? `${onNotification.load.changesPerSecond.toFixed(0)}, ${onNotification.load.notificationsPerSecond.toFixed(0)}, ${onNotification.load.cycles}, ${onNotification.load.cpuPercent.toFixed(0)} %`
        : '',
    ],
    [
      'fan-out, events/s (signed webhook / syslog TCP)',
      '',
      `${fanOut.webhook.toFixed(0)} / ${fanOut.syslog.toFixed(0)}`,
    ],
  ];
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) say(`${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]!.padStart(w[2]!)}`);
  say();
  printTargets(targets);
  const results = {
    machine: {
      cpus: cpus().length,
      node: process.version,
      nodeFlags: NODE_FLAGS,
      sambaBackendStore: BACKEND_STORE,
      // null: Samba's default (`prefork children`, 4).
      sambaLdapWorkers: LDAP_WORKERS ?? null,
    },
    runs: RUNS,
    scopes: [scaled, big],
    delivery,
    graphDelivery: graph,
    latency: [onSchedule, onNotification, everySecond],
    fanOut,
    targets: targets.map(([name, figure, target, met]) => ({ name, figure, target, met })),
  };
  writeFileSync(join('bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  say();
  say('Written to bench/results.json');
} finally {
  await samba.stop();
  postgres?.destroy();
  rmSync(work, { recursive: true, force: true });
}
