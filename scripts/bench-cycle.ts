/**
 * npm run bench: what a poll cycle costs, against a throwaway Samba AD DC on loopback.
 *
 * For each directory size it seeds that many users (and one group holding all of them) in
 * an OU of their own, takes the baseline while sampling the heap, then measures an idle
 * cycle and cycles with 10 and 100 changed users: LDAP round trips (requests after bind)
 * and wall time. The claim to check: a cycle's cost follows the number of changed objects,
 * not the size of the directory, and the heap stays flat while a large directory is paged.
 * Figures are printed, never asserted.
 *
 *   npm run bench                 # sizes 1000 and 5000
 *   npm run bench -- 2000 10000   # other sizes (seeding runs at about 250 objects/s)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runCycle, type CycleSummary } from '../src/app/cycle.js';
import { loadConfig } from '../src/config/load.js';
import { LdapDirectory } from '../src/directory/ldap.js';
import { Renderer } from '../src/mail/render.js';
import { createLogger } from '../src/log/logger.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sambaInstalled, startSamba, type SambaInfo } from '../test/support/samba.js';
import { DirectoryAdmin } from '../test/support/seed.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
if (sizes.length === 0) sizes.push(1000, 5000);

const say = (line = '') => process.stdout.write(`${line}\n`);
const gc = (globalThis as { gc?: () => void }).gc;

interface Measured {
  summary: CycleSummary;
  roundTrips: number;
  ms: number;
  peakHeapMB: number;
}

/** One cycle with a fresh connection, as `adnotify once` runs it. */
async function cycle(configFile: string, env: NodeJS.ProcessEnv): Promise<Measured> {
  const loaded = loadConfig(configFile, env);
  const log = createLogger({ level: 'warn', format: 'text', secrets: loaded.secrets });
  const store = SqliteStore.open(loaded.config.state.path);
  const directory = new LdapDirectory({ config: loaded.config.directory, log });
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let peak = heapBefore;
  // What the cycle keeps alive, not garbage waiting for a collection: collect, then read.
  const sampler = setInterval(() => {
    gc?.();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 20);
  try {
    await directory.connect();
    const afterBind = directory.operations;
    const started = performance.now();
    const summary = await runCycle({
      config: loaded.config,
      directory,
      store,
      clock: { now: () => new Date() },
      log,
      renderer: Renderer.load(null),
    });
    const ms = performance.now() - started;
    return {
      summary,
      roundTrips: directory.operations - afterBind,
      ms,
      peakHeapMB: (peak - heapBefore) / 2 ** 20,
    };
  } finally {
    clearInterval(sampler);
    await directory.close();
    store.close();
  }
}

async function seed(admin: DirectoryAdmin, size: number): Promise<{ ou: string; users: string[] }> {
  const ou = await admin.ou(`Bench ${size} ${Date.now().toString(36)}`);
  const users: string[] = [];
  const started = performance.now();
  for (let i = 0; i < size; i++) {
    users.push(
      await admin.user(ou, `b${size}x${i}`, {
        mail: `b${size}x${i}@example.test`,
        telephoneNumber: '+1 555 0100',
      }),
    );
    if ((i + 1) % 1000 === 0) process.stderr.write(`  seeded ${i + 1}/${size}\r`);
  }
  const group = await admin.group(ou, `bench-${size}-all`);
  await admin.addMembers(group, users);
  process.stderr.write(
    `  seeded ${size} users and a group of all of them in ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
  );
  return { ou, users };
}

function configFor(dir: string, samba: SambaInfo, baseDN: string): string {
  const file = join(dir, `bench-${Date.now()}.yaml`);
  writeFileSync(
    file,
    `version: 1
directory:
  urls: ["${samba.url}"]
  tls: { caFile: "${samba.caFile}" }
  bindDN: "${samba.bindDN}"
  bindPassword: "\${env:BENCH_BIND_PASSWORD}"
  baseDN: "${baseDN}"
state: { path: "${join(dir, `state-${Date.now()}.db`)}" }
smtp: { host: 127.0.0.1, port: 25, from: "bench@example.test" }
`,
  );
  return file;
}

if (!sambaInstalled()) {
  say('The benchmark needs Samba AD DC: apt-get install -y samba samba-ad-dc ldb-tools ldap-utils');
  process.exit(1);
}
if (!gc) say('(run with node --expose-gc for steadier heap figures; npm run bench does)');
const dir = mkdtempSync(join(tmpdir(), 'adnotify-bench-'));
say('Provisioning a throwaway Samba AD DC...');
const samba = await startSamba(dir);
const env = { BENCH_BIND_PASSWORD: samba.info.password };
const rows: string[][] = [];
try {
  const admin = await DirectoryAdmin.connect(samba.info);
  for (const size of sizes) {
    say(`Directory of ${size} users:`);
    const { ou, users } = await seed(admin, size);
    const config = configFor(dir, samba.info, ou);
    const baseline = await cycle(config, env);
    const idle = await cycle(config, env);
    const changed: Measured[] = [];
    for (const count of [10, 100]) {
      for (const dn of users.slice(0, count)) {
        await admin.modify(dn, 'replace', 'telephoneNumber', [`+1 555 9${String(count).padStart(3, '0')}`]);
      }
      changed.push(await cycle(config, env));
    }
    const fmt = (m: Measured) => [`${m.roundTrips}`, m.ms.toFixed(0), `${m.summary.events}`];
    rows.push([
      `${size}`,
      (baseline.ms / 1000).toFixed(2),
      baseline.peakHeapMB.toFixed(1),
      ...fmt(idle),
      ...changed.flatMap(fmt),
    ]);
  }
  await admin.close();
} finally {
  await samba.stop();
  rmSync(dir, { recursive: true, force: true });
}

const header = [
  'users',
  'baseline s',
  'baseline heap MB',
  'idle trips',
  'idle ms',
  'idle events',
  '10 chg trips',
  '10 chg ms',
  '10 chg events',
  '100 chg trips',
  '100 chg ms',
  '100 chg events',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
say();
say(header.map((h, i) => h.padStart(widths[i] ?? 0)).join('  '));
for (const row of rows) say(row.map((c, i) => c.padStart(widths[i] ?? 0)).join('  '));
say();
say('Round trips are LDAP requests after bind (rootDSE, invocationId, change search pages, schema');
say(
  'read when its cache is stale). Heap is the peak above the level before the cycle, after a collection every 20 ms.',
);
