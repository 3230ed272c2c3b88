/**
 * The benchmark directory: a Samba AD DC on loopback seeded once and cached under
 * bench/.cache/, keyed by the seed parameters (a change of parameters seeds a new one).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { restartSamba, startSamba, type SambaInfo, type StartedSamba } from '../test/support/samba.js';
import { DirectoryAdmin } from '../test/support/seed.js';

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

/** Runs `work` over `items` with at most `n` in flight (one LDAP connection pipelines them). */
async function parallel<T>(
  items: readonly T[],
  n: number,
  work: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        await work(items[i]!, i);
      }
    }),
  );
}

async function seedOu(admin: DirectoryAdmin, name: string, p: SeedParams): Promise<SeededOu> {
  const started = Date.now();
  const ou = await admin.ou(name);
  const people = await admin.ou('People', ou);
  const users = Array.from({ length: p.users }, (_, i) => `CN=u${i},${people}`);
  // Every 50th user manages the next 49: managers are created first.
  const managers = users.filter((_, i) => i % 50 === 0);
  const add = async (i: number) => {
    const sam = `${name.replace(/\W/g, '').slice(-6)}u${i}`.slice(0, 20);
    const attrs: Record<string, string> = {
      sAMAccountName: sam,
      userPrincipalName: `${sam}@example.test`,
      mail: `${sam}@example.test`,
      displayName: `User ${i}`,
      telephoneNumber: '+1 555 0100',
      title: 'Staff',
    };
    if (i % 50 !== 0) attrs['manager'] = users[i - (i % 50)]!;
    await admin.client.add(users[i]!, {
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      ...attrs,
    });
    if ((i + 1) % 2000 === 0) say(`  ${name}: ${i + 1}/${p.users} users`);
  };
  await parallel(managers, 8, (_, k) => add(k * 50));
  await parallel(users, 8, async (_, i) => {
    if (i % 50 !== 0) await add(i);
  });
  const contacts = await admin.ou('Contacts', ou);
  await parallel(Array.from({ length: p.contacts }), 8, async (_, i) => {
    await admin.client.add(`CN=c${i},${contacts}`, {
      objectClass: ['top', 'person', 'organizationalPerson', 'contact'],
      mail: `c${i}@partner.example`,
    });
  });
  const groupsOu = await admin.ou('Groups', ou);
  const groups = Array.from({ length: p.groups }, (_, i) => `CN=g${i},${groupsOu}`);
  await parallel(groups, 8, async (dn, i) => {
    const members = Array.from(
      { length: p.groupSize },
      (_, k) => users[(i * p.groupSize + k) % users.length]!,
    );
    await admin.client.add(dn, {
      objectClass: ['top', 'group'],
      sAMAccountName: `${name.replace(/\W/g, '').slice(-6)}g${i}`.slice(0, 20),
      managedBy: managers[i % managers.length]!,
      member: members,
    });
  });
  let bigGroup: string | null = null;
  if (p.bigGroup > 0) {
    bigGroup = await admin.group(groupsOu, `${name.replace(/\W/g, '').slice(-6)}big`);
    for (let i = 0; i < Math.min(p.bigGroup, users.length); i += 1000) {
      await admin.addMembers(bigGroup, users.slice(i, Math.min(i + 1000, p.bigGroup)));
    }
  }
  say(`  ${name}: seeded in ${Math.round((Date.now() - started) / 1000)} s`);
  return { ou, params: p, users, groups, bigGroup };
}

/**
 * A DC holding every scope of `plan`, from the cache when it was seeded with the same plan,
 * else provisioned and seeded now (and cached).
 */
export async function seededDirectory(cacheRoot: string, plan: Record<string, SeedParams>): Promise<Seeded> {
  const key = Buffer.from(JSON.stringify(plan)).toString('base64url').slice(0, 40);
  const dir = resolve(cacheRoot, key);
  const marker = join(dir, 'seeded.json');
  if (existsSync(marker)) {
    const saved = JSON.parse(readFileSync(marker, 'utf8')) as { info: SambaInfo; scopes: SeededOu[] };
    say(`Starting the cached benchmark directory (${dir})...`);
    const samba = await restartSamba(saved.info);
    return { samba, scopes: saved.scopes };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  say(`Provisioning and seeding the benchmark directory (${dir}); cached for later runs...`);
  const samba = await startSamba(dir);
  try {
    const admin = await DirectoryAdmin.connect(samba.info);
    const scopes: SeededOu[] = [];
    for (const [name, params] of Object.entries(plan)) scopes.push(await seedOu(admin, name, params));
    await admin.close();
    writeFileSync(marker, JSON.stringify({ info: samba.info, scopes }));
    return { samba, scopes };
  } catch (err: unknown) {
    await samba.stop();
    throw err;
  }
}
