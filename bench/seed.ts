/**
 * The benchmark directory: a Samba AD DC on loopback seeded once and cached under
 * bench/.cache/, keyed by the seed parameters (a change of parameters seeds a new one).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import {
  restartSamba,
  startSamba,
  stopEverySamba,
  type BackendStore,
  type SambaInfo,
  type StartedSamba,
} from '../test/support/samba.js';
import type { DirectoryAdmin } from '../test/support/seed.js';

export interface SeedParams {
  users: number;
  groups: number;
  groupSize: number;
  bigGroup: number;
  contacts: number;
}

export interface SeededOu {
  ou: string;
  params: SeedParams;
  users: string[];
  groups: string[];
  bigGroup: string | null;
}

export interface Seeded {
  samba: StartedSamba;
  scopes: SeededOu[];
}

const say = (line: string) => process.stderr.write(`${line}\n`);

/** One LDIF record: `dn` first, then each attribute's values in order. */
function record(dn: string, attrs: Record<string, string | readonly string[]>): string {
  const lines = [`dn: ${dn}`];
  for (const [name, value] of Object.entries(attrs)) {
    for (const v of typeof value === 'string' ? [value] : value) lines.push(`${name}: ${v}`);
  }
  return `${lines.join('\n')}\n`;
}

const OU = ['top', 'organizationalUnit'];
const USER = ['top', 'person', 'organizationalPerson', 'user'];
const CONTACT = ['top', 'person', 'organizationalPerson', 'contact'];

/**
 * The records of one scope, in an order the DC accepts them (an OU before what it holds,
 * managers before the users they manage, users before the groups that list them); the same
 * objects the LDAP seeder of issue 17 made: users without passwords (disabled, as an LDAP add
 * without one makes them), every 50th managing the next 49.
 */
function scopeRecords(name: string, p: SeedParams, baseDN: string): { records: string[]; scope: SeededOu } {
  const tag = name.replace(/\W/g, '').slice(-6);
  const ou = `OU=${name},${baseDN}`;
  const people = `OU=People,${ou}`;
  const contactsOu = `OU=Contacts,${ou}`;
  const groupsOu = `OU=Groups,${ou}`;
  const users = Array.from({ length: p.users }, (_, i) => `CN=u${i},${people}`);
  const managers = users.filter((_, i) => i % 50 === 0);
  const user = (i: number) => {
    const sam = `${tag}u${i}`.slice(0, 20);
    return record(users[i]!, {
      objectClass: USER,
      sAMAccountName: sam,
      userPrincipalName: `${sam}@example.test`,
      mail: `${sam}@example.test`,
      displayName: `User ${i}`,
      telephoneNumber: '+1 555 0100',
      title: 'Staff',
      ...(i % 50 === 0 ? {} : { manager: users[i - (i % 50)]! }),
    });
  };
  const records = [
    record(ou, { objectClass: OU, ou: name }),
    record(people, { objectClass: OU, ou: 'People' }),
    record(contactsOu, { objectClass: OU, ou: 'Contacts' }),
    record(groupsOu, { objectClass: OU, ou: 'Groups' }),
  ];
  for (let i = 0; i < p.users; i += 50) records.push(user(i));
  for (let i = 0; i < p.users; i++) if (i % 50 !== 0) records.push(user(i));
  for (let i = 0; i < p.contacts; i++) {
    records.push(record(`CN=c${i},${contactsOu}`, { objectClass: CONTACT, mail: `c${i}@partner.example` }));
  }
  const groups = Array.from({ length: p.groups }, (_, i) => `CN=g${i},${groupsOu}`);
  groups.forEach((dn, i) => {
    records.push(
      record(dn, {
        objectClass: ['top', 'group'],
        sAMAccountName: `${tag}g${i}`.slice(0, 20),
        managedBy: managers[i % managers.length]!,
        member: Array.from({ length: p.groupSize }, (_, k) => users[(i * p.groupSize + k) % users.length]!),
      }),
    );
  });
  let bigGroup: string | null = null;
  if (p.bigGroup > 0) {
    bigGroup = `CN=${tag}big,${groupsOu}`;
    records.push(
      record(bigGroup, {
        objectClass: ['top', 'group'],
        sAMAccountName: `${tag}big`,
        member: users.slice(0, Math.min(p.bigGroup, users.length)),
      }),
    );
  }
  return { records, scope: { ou, params: p, users, groups, bigGroup } };
}

/**
 * Writes `records` into the stopped DC's sam.ldb with ldbadd, through Samba's own module stack
 * (SIDs, RIDs, linked attributes, uSNs as an LDAP add makes them) but without a network round
 * trip per object. In ldb's `batch_mode` (the option `samba-tool domain provision` and `join`
 * use for large loads) an add is not a nested transaction of its own: without it every add
 * copied the index lists all users share (objectClass, objectCategory, primaryGroupID...) when
 * its sub-transaction committed, so a user cost about 1 ms at 1,000 users stored and 65 ms at
 * 62,000 and the 100,000-user plan took hours. With it, 10,000 objects to a transaction, that
 * plan takes about 6 minutes on this machine. A failed add rolls the whole transaction back,
 * so the objects under a scope's OU are still exactly its first records (see seededDirectory).
 * The index cache size is the one provision uses for a database of this size.
 */
function ldbAdd(samLdb: string, records: string[], from: number, label: string): void {
  const chunk = 10_000;
  const options = ['-o', 'batch_mode:1', '-o', 'transaction_index_cache_size:202481'];
  for (let i = from; i < records.length; i += chunk) {
    const added = spawnSync('ldbadd', ['-H', samLdb, '--nosync', ...options], {
      input: records.slice(i, i + chunk).join('\n'),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (added.status !== 0) {
      throw new Error(
        `ldbadd into ${samLdb} failed (${added.status ?? added.signal}): ${added.stderr.slice(-2000)}`,
      );
    }
    // Each ldbadd is one transaction: say where it got to (a resumed seeding starts part-way).
    const written = Math.min(i + chunk, records.length);
    say(`  ${label}: ${written}/${records.length} objects (${new Date().toISOString().slice(11, 19)})`);
  }
}

/**
 * A DC holding every scope of `plan`, from the cache when it was seeded with the same plan,
 * else provisioned and seeded now (and cached); started with `ldapWorkers` LDAP worker
 * processes when given (Samba's default otherwise).
 */
export async function seededDirectory(
  cacheRoot: string,
  plan: Record<string, SeedParams>,
  backendStore: BackendStore = 'tdb',
  ldapWorkers?: number,
): Promise<Seeded> {
  // tdb directories keep the key they were cached under before there was a choice.
  const key =
    Buffer.from(JSON.stringify(plan)).toString('base64url').slice(0, 40) +
    (backendStore === 'tdb' ? '' : `-${backendStore}`);
  const dir = resolve(cacheRoot, key);
  const marker = join(dir, 'seeded.json');
  if (existsSync(marker)) {
    const saved = JSON.parse(readFileSync(marker, 'utf8')) as { info: SambaInfo; scopes: SeededOu[] };
    say(`Starting the cached benchmark directory (${dir})...`);
    // Samba's own process model, as on a DC (see ProcessModel).
    const samba = await restartSamba(saved.info, 'prefork', { ldapWorkers });
    return { samba, scopes: saved.scopes };
  }
  // A seeding that was stopped goes on where it was:
  // each ldbadd is one transaction and the records come in a fixed order, so the objects
  // already under a scope's OU are exactly its first records.
  const provisionedFile = join(dir, 'provisioned.json');
  let info: SambaInfo;
  if (existsSync(provisionedFile)) {
    info = JSON.parse(readFileSync(provisionedFile, 'utf8')) as SambaInfo;
    await stopEverySamba(dir);
    say(`Resuming the seeding of the benchmark directory (${dir})...`);
  } else {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    say(`Provisioning and seeding the benchmark directory (${dir}); cached for later runs...`);
    // Provisioned (and started once, to make its certificates and check it answers), stopped
    // while ldbadd writes the objects, started again to serve them.
    const provisioned = await startSamba(dir, undefined, backendStore);
    await provisioned.stop();
    info = provisioned.info;
    writeFileSync(provisionedFile, JSON.stringify(info));
  }
  const scopes: SeededOu[] = [];
  for (const [name, params] of Object.entries(plan)) {
    const started = Date.now();
    const { records, scope } = scopeRecords(name, params, info.baseDN);
    const present = objectsUnder(info.samLdb, `OU=${name},${info.baseDN}`);
    if (present > 0) say(`  ${name}: ${present}/${records.length} objects there already`);
    ldbAdd(info.samLdb, records, present, name);
    say(`  ${name}: seeded in ${Math.round((Date.now() - started) / 1000)} s`);
    scopes.push(scope);
  }
  const samba = await restartSamba(info, 'prefork', { ldapWorkers });
  writeFileSync(marker, JSON.stringify({ info: samba.info, scopes }));
  return { samba, scopes };
}

/** How many objects the stopped DC holds in the subtree of `base` (0 when it is not there). */
function objectsUnder(samLdb: string, base: string): number {
  const found = spawnSync('ldbsearch', ['-H', samLdb, '-b', base, '-s', 'sub', '(objectClass=*)', 'dn'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (found.status !== 0) {
    if (/No such (object|Base DN)/i.test(found.stderr + found.stdout)) return 0;
    throw new Error(
      `ldbsearch in ${samLdb} failed (${found.status ?? found.signal}): ${found.stderr.slice(-2000)}`,
    );
  }
  return Number(/# returned (\d+) records/.exec(found.stdout)?.[1] ?? 0);
}

/**
 * Puts the scope's groups back to the members they were seeded with. Each incremental run adds
 * a member to 1,000 groups and each large-group run one to the large group, and the directory
 * is cached across runs: without this the groups grew with every run (about 90 members instead
 * of 20 after the runs made for issue 25), and so did the work and memory of the "same"
 * incremental cycle. Only groups that differ are written.
 */
export async function restoreSeededMembers(admin: DirectoryAdmin, scope: SeededOu): Promise<number> {
  const p = scope.params;
  const seeded = new Map<string, string[]>(
    scope.groups.map((dn, i) => [
      dn.toLowerCase(),
      Array.from({ length: p.groupSize }, (_, k) => scope.users[(i * p.groupSize + k) % scope.users.length]!),
    ]),
  );
  if (scope.bigGroup !== null) {
    seeded.set(scope.bigGroup.toLowerCase(), scope.users.slice(0, Math.min(p.bigGroup, scope.users.length)));
  }
  const groupsOu = `OU=Groups,${scope.ou}`;
  const { searchEntries } = await admin.client.search(groupsOu, {
    scope: 'one',
    filter: '(objectClass=group)',
    attributes: ['member'],
    paged: { pageSize: 500 },
  });
  let restored = 0;
  for (const entry of searchEntries) {
    const wanted = seeded.get(entry.dn.toLowerCase());
    if (wanted === undefined) continue;
    const now = ([] as string[]).concat((entry['member'] as string[] | string | undefined) ?? []);
    const keep = new Set(wanted.map((dn) => dn.toLowerCase()));
    const has = new Set(now.map((dn) => dn.toLowerCase()));
    const extra = now.filter((dn) => !keep.has(dn.toLowerCase()));
    const missing = wanted.filter((dn) => !has.has(dn.toLowerCase()));
    if (extra.length > 0) await admin.removeMembers(entry.dn, extra);
    if (missing.length > 0) await admin.addMembers(entry.dn, missing);
    if (extra.length > 0 || missing.length > 0) restored++;
  }
  return restored;
}
