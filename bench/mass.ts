/**
 * npm run bench:mass [-- --members N --groups G] [--objects N]: one poll cycle over a mass
 * change, in the executable's memory limits (run under its V8 flags), with a real SQLite state
 * and the real renderer. The directory is an in-memory source handing over the entries a DC
 * would (the LDAP side of a cycle is measured against Samba by npm run bench): seeding a
 * million membership changes into Samba would take hours.
 *
 * - membership: G groups of N members each, all added in one window (default 100 x 10,000 =
 *   1,000,000 changes), notify.newMemberOnAdd on: a message per added member, held by the
 *   flood guard.
 * - objects: N users, each with a manager, all modified in one window (default 100,000): a
 *   message to each manager, held.
 * - deleted: the same N users deleted in one window.
 * Prints time, peak RSS and peak V8 heap for each.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';

import { runCycle } from '../src/poll/cycle.js';
import { parseConfigText } from '../src/config/load.js';
import type { AttributeValue, DirectoryEntry, DirectoryIdentity } from '../src/core/types.js';
import type { DirectorySource } from '../src/directory/port.js';
import { createLogger } from '../src/log/logger.js';
import { Renderer } from '../src/mail/render.js';
import { SqliteStore } from '../src/store/sqlite/store.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} expects a whole number`);
  return value;
};

/** The child: one scenario, under the executable's V8 flags; prints one JSON line. */
async function scenario(
  kind: 'membership' | 'objects' | 'deleted',
  users: number,
  groups: number,
  actor: boolean,
): Promise<void> {
  const BASE = 'OU=Mass,DC=x,DC=test';
  const guid = (space: number, i: number) =>
    `${space.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  const userDn = (i: number) => `CN=u${i},${BASE}`;
  let phase = 0;
  const user = (i: number): DirectoryEntry => {
    const manager = i - (i % 50);
    const attributes = new Map<string, AttributeValue[]>([
      ['mail', [`u${i}@x.test`]],
      ['displayName', [`User ${i}`]],
      ['userAccountControl', ['512']],
      ['manager', [{ kind: 'dn', guid: guid(1, manager), sid: null, dn: userDn(manager) }]],
    ]);
    if (phase === 1) attributes.set('description', [`changed ${i}`]);
    return {
      guid: guid(1, i),
      dn: userDn(i),
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      usnChanged: phase === 0 ? 10n : 20n,
      usnCreated: 10n,
      deleted: false,
      attributes,
    };
  };
  const group = (g: number): DirectoryEntry => ({
    guid: guid(2, g),
    dn: `CN=g${g},${BASE}`,
    objectClass: ['top', 'group'],
    usnChanged: phase === 0 ? 10n : 20n,
    usnCreated: 10n,
    deleted: false,
    attributes: new Map([['displayName', [`Group ${g}`]]]),
    members:
      phase === 0
        ? []
        : Array.from({ length: users }, (_, i) => ({ guid: guid(1, i), sid: null, dn: userDn(i) })),
  });
  const identity = (): DirectoryIdentity => ({
    url: 'ldaps://dc.x.test',
    dsServiceName: 'CN=NTDS Settings,CN=DC1',
    invocationId: '00000000-0000-4000-8000-000000000001',
    highestCommittedUSN: phase === 0 ? 15n : 25n,
    defaultNamingContext: 'DC=x,DC=test',
    namingContexts: ['DC=x,DC=test'],
  });
  const directory: DirectorySource = {
    connect: () => Promise.resolve(),
    identity: () => Promise.resolve(identity()),
    async *search() {
      await Promise.resolve();
      if (phase === 0 || kind === 'objects') {
        for (let i = 0; i < users; i += 500) {
          yield Array.from({ length: Math.min(500, users - i) }, (_, k) => user(i + k));
        }
      }
      if (phase === 1 && kind === 'deleted') {
        for (let i = 0; i < users; i += 500) {
          yield Array.from({ length: Math.min(500, users - i) }, (_, k) => ({
            ...user(i + k),
            deleted: true,
          }));
        }
      }
      if (phase === 0 || kind === 'membership') for (let g = 0; g < groups; g++) yield [group(g)];
    },
    modify: () => Promise.resolve(),
    tombstonesVisible: () => Promise.resolve(true),
    upToDateness: () => Promise.resolve(null),
    attributeSyntaxes: () => Promise.resolve({ binary: [], dn: [] }),
    useAttributeSyntaxes: () => undefined,
    close: () => Promise.resolve(),
  };
  const dir = mkdtempSync(join(tmpdir(), 'adnotify-mass-'));
  const audit = join(dir, 'audit.log');
  writeFileSync(audit, '');
  // With an audit source: records for half the modified users, so the other half wait
  // (waitSeconds 1) and go out unknown.
  const actorSource = actor
    ? `, actor: { source: samba-audit, paths: [${JSON.stringify(audit)}], waitSeconds: 1 }`
    : '';
  const { config } = parseConfigText(
    `version: 1
directory: { urls: ["ldaps://dc.x.test"], bindDN: "svc", bindPassword: "x", baseDN: "${BASE}"${actorSource} }
smtp: { host: 127.0.0.1, from: "adnotify@x.test", to: [helpdesk@x.test] }
notify: { newMemberOnAdd: true }
`,
    'mass.yaml',
    {},
  );
  const store = SqliteStore.open(join(dir, 'state.db'));
  try {
    const log = createLogger({
      level: 'error',
      format: 'json',
      file: null,
      secrets: [],
      stream: process.stderr,
    });
    const deps = {
      config,
      directory,
      store,
      clock: { now: () => new Date() },
      log,
      renderer: Renderer.load(null),
    };
    await runCycle(deps);
    phase = 1;
    if (actor && kind === 'objects') {
      const at = new Date().toISOString().replace('Z', '+0000');
      const lines: string[] = [];
      for (let i = 0; i < users; i += 2) {
        lines.push(
          JSON.stringify({
            timestamp: at,
            type: 'dsdbChange',
            dsdbChange: {
              statusCode: 0,
              operation: 'Modify',
              userSid: 'S-1-5-21-1-2-3-1105',
              dn: userDn(i),
              attributes: { description: {} },
            },
          }),
        );
        if (lines.length === 10_000) appendFileSync(audit, `${lines.splice(0).join('\n')}\n`);
      }
      if (lines.length > 0) appendFileSync(audit, `${lines.join('\n')}\n`);
    }
    const started = performance.now();
    const summary = await runCycle(deps);
    const ms = performance.now() - started;
    process.stdout.write(
      `${JSON.stringify({
        kind,
        events: summary.events,
        messages: summary.messages,
        held: summary.held,
        seconds: ms / 1000,
        // VmHWM, not ru_maxrss, which Linux carries over from the parent (see child.mjs).
        rssMb:
          Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024,
        heapLimitMb: getHeapStatistics().heap_size_limit / 2 ** 20,
      })}\n`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args[0] === '--child') {
  const kind = args[1] === 'objects' || args[1] === 'deleted' ? args[1] : 'membership';
  await scenario(kind, Number(args[2]), Number(args[3]), args[4] === 'actor');
} else {
  const members = opt('members', 10_000);
  const groups = opt('groups', 100);
  const objects = opt('objects', 100_000);
  // The executable's V8 flags, from its shebang (#!/usr/bin/env -S node ...).
  const flags = (readFileSync('src/bin.ts', 'utf8').split('\n', 1)[0] ?? '')
    .split(/\s+/)
    .filter((w) => w.startsWith('--'));
  const run = (...task: string[]) => {
    const child = spawnSync(
      process.execPath,
      [...flags, '--import', 'tsx', 'bench/mass.ts', '--child', ...task],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    if (child.status !== 0) {
      process.stdout.write(
        `  failed (${child.signal ?? `exit ${child.status}`}): ${child.stderr.slice(-2000)}\n`,
      );
      return;
    }
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
      events: number;
      messages: number;
      held: boolean;
      seconds: number;
      rssMb: number;
      heapLimitMb: number;
    };
    process.stdout.write(
      `  ${r.events.toLocaleString('en-US')} events, ${r.messages.toLocaleString('en-US')} messages${r.held ? ' (held)' : ''}: ${r.seconds.toFixed(1)} s, peak RSS ${r.rssMb.toFixed(0)} MB (V8 heap limit ${r.heapLimitMb.toFixed(0)} MB)\n`,
    );
  };
  process.stdout.write(`Node ${process.version}, V8 flags ${flags.join(' ')}\n`);
  process.stdout.write(`membership: ${groups} groups x ${members} members added in one window\n`);
  run('membership', String(members), String(groups));
  process.stdout.write(`objects: ${objects} users modified in one window, each telling its manager\n`);
  run('objects', String(objects), '0');
  process.stdout.write(`deleted: ${objects} users deleted in one window, each telling its manager\n`);
  run('deleted', String(objects), '0');
  // directory.actor.source samba-audit: peak RSS should stay flat as the window grows.
  for (const n of [Math.max(1, Math.floor(objects / 4)), objects]) {
    process.stdout.write(
      `objects with an audit source: ${n} users modified, half named by a record, half waiting 1 s\n`,
    );
    run('objects', String(n), '0', 'actor');
  }
  process.stdout.write(`membership with an audit source (no records: all wait, then unknown)\n`);
  run('membership', String(members), String(groups), 'actor');
}
