/**
 * Change detection against a real directory: each test makes a change as an administrator
 * would, runs `adnotify once`, and asserts the exact events `adnotify history --json` lists.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { Client } from 'ldapts';
import { describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, uniqueName, writeConfig } from '../support/cli.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { directoryAdmin } from '../support/directoryAndMail.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('change detection: every change one correct event (Samba AD DC)', () => {
  if (!samba) return;
  const env = { TEST_BIND_PASSWORD: samba.password };
  const bed = directoryAdmin(samba);

  const usnOf = async (dn: string) => {
    const { searchEntries } = await bed.admin.client.search(dn, {
      scope: 'base',
      attributes: ['uSNChanged'],
    });
    return BigInt(String(searchEntries[0]?.['uSNChanged']));
  };

  const ref = async (dn: string, cls: string) => ({ guid: await bed.admin.guidOf(dn), dn, class: cls });

  it('reports a new user as object.created', async () => {
    const watch = await Watch.start(bed.admin, samba, 'create');
    const dn = await bed.admin.user(watch.ou, uniqueName('new').slice(0, 20));
    const { stdout, events } = await watch.cycle();
    expect(events).toEqual([{ type: 'object.created', object: await ref(dn, 'user') }]);
    expect(stdout).toMatch(/^incremental: 1 events from 1 changed objects, cursor \d+ → \d+, [\d.]+ s$/m);

    // A user and a group holding it, created in one cycle: the member is known as a user.
    const uma = await bed.admin.user(watch.ou, uniqueName('uma').slice(0, 20));
    const club = await bed.admin.group(watch.ou, uniqueName('club').slice(0, 20), { member: uma });
    const next = await watch.cycle();
    const clubRef = await ref(club, 'group');
    expect(next.events).toEqual(
      expect.arrayContaining([
        { type: 'object.created', object: await ref(uma, 'user') },
        { type: 'object.created', object: clubRef },
        { type: 'group.member.added', object: clubRef, member: await ref(uma, 'user') },
      ]),
    );
    expect(next.events).toHaveLength(3);
  });

  it('reports single- and multi-valued attribute changes with before and after values', async () => {
    let alice = '';
    const watch = await Watch.start(bed.admin, samba, 'modify', async (ou) => {
      alice = await bed.admin.user(ou, uniqueName('alice').slice(0, 20), {
        telephoneNumber: '+1 555 0100',
        otherTelephone: ['+1 555 0101', '+1 555 0102'],
        title: 'Engineer',
      });
    });
    await bed.admin.modify(alice, 'replace', 'telephoneNumber', ['+1 555 0199']);
    await bed.admin.modify(alice, 'add', 'otherTelephone', ['+1 555 0103']);
    await bed.admin.modify(alice, 'delete', 'title', []);
    await bed.admin.modify(alice, 'add', 'department', ['Research']);
    const { events } = await watch.cycle();
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      type: 'object.modified',
      object: await ref(alice, 'user'),
      changes: [
        { attribute: 'department', before: [], after: ['Research'] },
        {
          attribute: 'otherTelephone',
          before: ['+1 555 0101', '+1 555 0102'],
          after: expect.arrayContaining(['+1 555 0101', '+1 555 0102', '+1 555 0103']) as unknown,
        },
        { attribute: 'telephoneNumber', before: ['+1 555 0100'], after: ['+1 555 0199'] },
        { attribute: 'title', before: ['Engineer'], after: [] },
      ],
    });
  });

  it('shows a text value that looks like an Extended DN as the text it is, in the event and in history', async () => {
    let alice = '';
    const watch = await Watch.start(bed.admin, samba, 'forgeddn', async (ou) => {
      alice = await bed.admin.user(ou, uniqueName('alice').slice(0, 20));
    });
    const forged = `<GUID=00000000-0000-0000-0000-000000000000>;CN=Domain Admins,CN=Users,${samba.baseDN}`;
    await bed.admin.modify(alice, 'replace', 'description', [forged]);
    const { events } = await watch.cycle();
    expect(events).toEqual([
      {
        type: 'object.modified',
        object: await ref(alice, 'user'),
        changes: [{ attribute: 'description', before: [], after: [forged] }],
      },
    ]);
  });

  it('reports redacted attributes without values and binary ones by hash', async () => {
    let bob = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'redact',
      async (ou) => {
        bob = await bed.admin.user(ou, uniqueName('bob').slice(0, 20), { info: 'old secret note' });
      },
      { directoryExtra: '  attributes:\n    redact: [info]' },
    );
    await bed.admin.modify(bob, 'replace', 'info', ['new secret note']);
    const photo = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01, 0x0a, 0x0d]);
    await bed.admin.modify(bob, 'replace', 'thumbnailPhoto', [photo]);
    const { events } = await watch.cycle();
    expect(events).toEqual([
      {
        type: 'object.modified',
        object: await ref(bob, 'user'),
        changes: [
          { attribute: 'info', redacted: true },
          {
            attribute: 'thumbnailPhoto',
            binary: true,
            before: [],
            after: [createHash('sha256').update(photo).digest('hex')],
          },
        ],
      },
    ]);
    const history = await runCli(['--config', watch.config, 'history', '--json'], env);
    expect(history.stdout).not.toContain('secret note');
  });

  it('reports a renamed and then moved group member as object.moved, without membership churn', async () => {
    let carol = '';
    let group = '';
    let other = '';
    const watch = await Watch.start(bed.admin, samba, 'move', async (ou) => {
      other = await bed.admin.ou('Other', ou);
      carol = await bed.admin.user(ou, uniqueName('carol').slice(0, 20));
      group = await bed.admin.group(ou, uniqueName('team').slice(0, 20));
      await bed.admin.addMembers(group, [carol]);
    });
    const guid = await bed.admin.guidOf(carol);
    const renamed = await bed.admin.move(carol, `CN=Carol Renamed,${watch.ou}`);
    let { events } = await watch.cycle();
    expect(events).toEqual([
      { type: 'object.moved', object: await ref(renamed, 'user'), from: carol, to: renamed },
    ]);
    const moved = await bed.admin.move(renamed, `CN=Carol Renamed,${other}`);
    ({ events } = await watch.cycle());
    expect(events).toEqual([
      { type: 'object.moved', object: await ref(moved, 'user'), from: renamed, to: moved },
    ]);
    expect(watch.query('SELECT member_dn FROM memberships WHERE member_guid = ?', guid)).toEqual([
      { member_dn: moved },
    ]);
  });

  it('a user that stops matching directory.filter leaves the scope in an incremental cycle, and comes back', async () => {
    let ann = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'filterleave',
      async (ou) => {
        ann = await bed.admin.user(ou, uniqueName('ann').slice(0, 20), { department: 'IT' });
      },
      { directoryExtra: '  filter: "(&(objectClass=user)(!(objectClass=computer))(department=IT))"' },
    );
    await bed.admin.modify(ann, 'replace', 'department', ['Sales']);
    const left = await watch.cycle();
    await bed.admin.modify(ann, 'replace', 'department', ['IT']);
    const back = await watch.cycle();

    expect(left.stdout).toMatch(/^incremental: /m);
    expect(left.events).toEqual([
      { type: 'object.moved', object: await ref(ann, 'user'), from: ann, to: ann, leftScope: true },
    ]);
    expect(back.events).toEqual([
      { type: 'object.created', object: await ref(ann, 'user'), enteredScope: true },
    ]);
  });

  it('users renamed in the same cycle as their OU: each move says where the user was before the cycle, whatever the order read', async () => {
    let old = '';
    const users: string[] = [];
    const watch = await Watch.start(bed.admin, samba, 'ourename2', async (ou) => {
      old = await bed.admin.ou('OldOU', ou);
      for (let i = 0; i < 6; i++) users.push(await bed.admin.user(old, uniqueName(`u${i}`).slice(0, 20)));
      // Deleted in the same window too: its event names the DN it had before the cycle.
      users.push(await bed.admin.user(old, uniqueName('gone').slice(0, 20)));
    });
    const gone = users.pop()!;
    const renamed = [];
    for (const dn of users) renamed.push(await bed.admin.move(dn, dn.replace(/^CN=/, 'CN=New-')));
    const moved = await bed.admin.move(old, `OU=NewOU,${watch.ou}`);
    await bed.admin.delete(gone.replace(old, moved));

    const { events } = await watch.cycle();

    const moves = events.filter((e) => e.type === 'object.moved') as { from: string; to: string }[];
    expect(moves.map((e) => e.from).sort()).toEqual([...users].sort());
    expect(moves.map((e) => e.to).sort()).toEqual(renamed.map((dn) => dn.replace(old, moved)).sort());
    expect(events.find((e) => e.type === 'object.deleted')?.object.dn).toBe(gone);
  });

  it('follows an OU rename silently: descendants keep their identity and report only their own changes', async () => {
    let staff = '';
    let dave = '';
    let erin = '';
    let group = '';
    const watch = await Watch.start(bed.admin, samba, 'ourename', async (ou) => {
      staff = await bed.admin.ou('Staff', ou);
      const nested = await bed.admin.ou('Nested', staff);
      dave = await bed.admin.user(staff, uniqueName('dave').slice(0, 20));
      erin = await bed.admin.user(nested, uniqueName('erin').slice(0, 20));
      group = await bed.admin.group(staff, uniqueName('grp').slice(0, 20));
      await bed.admin.addMembers(group, [dave, erin]);
    });
    const people = await bed.admin.move(staff, `OU=People,${watch.ou}`);
    const newErin = erin.replace(staff, people);
    // In the same cycle, one descendant changes for a reason of its own.
    await bed.admin.modify(newErin, 'replace', 'description', ['after the rename']);
    const { events } = await watch.cycle();
    expect(events).toEqual([
      {
        type: 'object.modified',
        object: await ref(newErin, 'user'),
        changes: [{ attribute: 'description', before: [], after: ['after the rename'] }],
      },
    ]);
    const dns = watch.query<{ dn: string }>('SELECT dn FROM objects ORDER BY dn').map((r) => r.dn);
    expect(dns.sort()).toEqual([dave, erin, group].map((d) => d.replace(staff, people)).sort());
    expect(watch.query<{ dn: string }>('SELECT dn FROM containers ORDER BY dn').map((r) => r.dn)).toEqual(
      [watch.ou, people, `OU=Nested,${people}`].sort(),
    );
    const again = await watch.cycle();
    expect(again.events).toEqual([]);
  });

  it('reports members added and removed, also members outside the watched scope', async () => {
    let group = '';
    let frank = '';
    let gina = '';
    const watch = await Watch.start(bed.admin, samba, 'members', async (ou) => {
      group = await bed.admin.group(ou, uniqueName('grp').slice(0, 20));
      frank = await bed.admin.user(ou, uniqueName('frank').slice(0, 20));
      gina = await bed.admin.user(ou, uniqueName('gina').slice(0, 20));
      await bed.admin.addMembers(group, [frank]);
    });
    const outside = `CN=Administrator,CN=Users,${samba.baseDN}`;
    await bed.admin.addMembers(group, [gina, outside]);
    await bed.admin.removeMembers(group, [frank]);
    const { events } = await watch.cycle();
    const groupRef = await ref(group, 'group');
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'group.member.added', object: groupRef, member: await ref(gina, 'user') },
        {
          type: 'group.member.added',
          object: groupRef,
          member: { guid: await bed.admin.guidOf(outside), dn: outside, class: null },
        },
        { type: 'group.member.removed', object: groupRef, member: await ref(frank, 'user') },
      ]),
    );
    expect(events).toHaveLength(3);
  });

  it('reports exactly the changed member of a group with more than 1,500 members (ranged reads)', async () => {
    let group = '';
    let extra = '';
    let leaver = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'large',
      async (ou) => {
        const people = await bed.admin.ou('People', ou);
        const members: string[] = [];
        for (let i = 0; i < 1_550; i++) members.push(await bed.admin.contact(people, `c${i}`));
        extra = await bed.admin.contact(people, 'extra');
        leaver = members[777]!;
        group = await bed.admin.group(ou, uniqueName('big').slice(0, 20));
        await bed.admin.addMembers(group, members);
      },
      { env: { ADNOTIFY_MEMBER_RANGE_SIZE: '500' } },
    );
    await bed.admin.addMembers(group, [extra]);
    await bed.admin.removeMembers(group, [leaver]);
    const { events } = await watch.cycle();
    const groupRef = await ref(group, 'group');
    expect(events).toEqual([
      { type: 'group.member.added', object: groupRef, member: await ref(extra, 'contact') },
      { type: 'group.member.removed', object: groupRef, member: await ref(leaver, 'contact') },
    ]);
    expect(watch.query<{ n: number }>('SELECT count(*) AS n FROM memberships')).toEqual([{ n: 1_550 }]);
  }, 120_000);

  it('reports a deleted user once, and its removal from each of its two groups', async () => {
    let hank = '';
    let g1 = '';
    let g2 = '';
    const watch = await Watch.start(bed.admin, samba, 'delete', async (ou) => {
      hank = await bed.admin.user(ou, uniqueName('hank').slice(0, 20), { mail: 'hank@example.test' });
      g1 = await bed.admin.group(ou, uniqueName('g1').slice(0, 20));
      g2 = await bed.admin.group(ou, uniqueName('g2').slice(0, 20));
      await bed.admin.addMembers(g1, [hank]);
      await bed.admin.addMembers(g2, [hank]);
    });
    const hankRef = await ref(hank, 'user');
    await bed.admin.delete(hank);
    const { events } = await watch.cycle();
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'object.deleted', object: hankRef },
        { type: 'group.member.removed', object: await ref(g1, 'group'), member: hankRef },
        { type: 'group.member.removed', object: await ref(g2, 'group'), member: hankRef },
      ]),
    );
    expect(events).toHaveLength(3);
    expect(watch.query('SELECT * FROM memberships')).toEqual([]);
    expect((await watch.cycle()).events).toEqual([]);
  });

  it('ignores a change to an ignored attribute (configured and built-in)', async () => {
    let ivy = '';
    const sam = uniqueName('ivy').slice(0, 20);
    const watch = await Watch.start(
      bed.admin,
      samba,
      'ignore',
      async (ou) => {
        ivy = await bed.admin.user(ou, sam, { description: 'before' }, { password: 'Str0ng!Passw0rd' });
      },
      { directoryExtra: '  attributes:\n    ignore: [description]' },
    );
    await bed.admin.modify(ivy, 'replace', 'description', ['after']);
    const before = await watch.cursor();
    let { stdout, events } = await watch.cycle();
    expect(events).toEqual([]);
    expect(stdout).toMatch(/^incremental: 0 events from 1 changed objects/m);
    expect(await watch.cursor()).toBeGreaterThan(before);

    // Ivy logs on: the DC records lastLogonTimestamp, which bumps her uSNChanged.
    const usnBefore = await usnOf(ivy);
    const ivyClient = new Client({ url: samba.url, tlsOptions: { ca: readFileSync(samba.caFile) } });
    await ivyClient.bind(`${sam}@example.test`, 'Str0ng!Passw0rd');
    await ivyClient.unbind();
    expect(await usnOf(ivy)).toBeGreaterThan(usnBefore);
    ({ stdout, events } = await watch.cycle());
    expect(events).toEqual([]);
    expect(stdout).toMatch(/^incremental: 0 events from 1 changed objects/m);
  });

  it('an idle cycle costs at most three LDAP round trips, records nothing and keeps the cursor', async () => {
    const proxy = await LdapProxy.start(samba);
    try {
      const watch = await Watch.start(
        bed.admin,
        samba,
        'idle',
        async (ou) => {
          await bed.admin.user(ou, uniqueName('jo').slice(0, 20));
        },
        { urls: [proxy.url] },
      );
      const cursor = await watch.cursor();
      const cycles = () => watch.query<{ n: number }>('SELECT count(*) AS n FROM cycles')[0]?.n;
      const before = cycles();
      for (let i = 0; i < 2; i++) {
        proxy.reset();
        const { stdout, events } = await watch.cycle();
        expect(stdout).toMatch(/^incremental: nothing changed, cursor \d+, [\d.]+ s$/m);
        expect(events).toEqual([]);
        expect(proxy.operations.length, proxy.requests.join(' ')).toBeLessThanOrEqual(3);
      }
      expect(await watch.cursor()).toBe(cursor);
      expect(cycles()).toBe(before);
      const last = watch.query<{ kind: string; outcome: string }>('SELECT kind, outcome FROM last_run');
      expect(last).toEqual([{ kind: 'incremental', outcome: 'ok' }]);
    } finally {
      await proxy.stop();
    }
  });

  it('a cycle killed part-way commits nothing; the next one yields each event exactly once', async () => {
    const proxy = await LdapProxy.start(samba);
    try {
      const users: string[] = [];
      const watch = await Watch.start(
        bed.admin,
        samba,
        'kill',
        async (ou) => {
          for (let i = 0; i < 6; i++)
            users.push(await bed.admin.user(ou, `${uniqueName('k').slice(0, 14)}${i}`));
        },
        { urls: [proxy.url], directoryExtra: '  pageSize: 2' },
      );
      for (const [i, dn] of users.entries())
        await bed.admin.modify(dn, 'replace', 'description', [`change ${i}`]);
      const cursor = await watch.cursor();

      // rootDSE, invocationId, then the change search: hold it after its second page.
      proxy.reset();
      proxy.holdAfterSearches(4);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/bin.ts', '--config', watch.config, 'once'],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<string | null>((resolve) => {
        child.on('exit', (_code, signal) => {
          resolve(signal);
        });
      });
      // Pages 1 and 2 applied (snapshot rows written, uncommitted), page 3 requested and held.
      const midCycle = () => proxy.holding && /"message":"read page".*"page":2/.test(stderr);
      for (let i = 0; i < 300 && !midCycle(); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(midCycle(), stderr).toBe(true);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      proxy.release();

      expect(await watch.newEvents()).toEqual([]);
      expect(await watch.cursor()).toBe(cursor);
      const { events } = await watch.cycle();
      const expected = await Promise.all(
        users.map(async (dn, i) => ({
          type: 'object.modified',
          object: await ref(dn, 'user'),
          changes: [{ attribute: 'description', before: [], after: [`change ${i}`] }],
        })),
      );
      expect(events).toHaveLength(6);
      expect(events).toEqual(expect.arrayContaining(expected));
      expect((await watch.cycle()).events).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('after a restore (new invocationId) reads everything once: real differences, no repeats, no gaps', async () => {
    let kim = '';
    let lee = '';
    let max = '';
    let group = '';
    const watch = await Watch.start(bed.admin, samba, 'resync', async (ou) => {
      kim = await bed.admin.user(ou, uniqueName('kim').slice(0, 20));
      lee = await bed.admin.user(ou, uniqueName('lee').slice(0, 20));
      max = await bed.admin.user(ou, uniqueName('max').slice(0, 20));
      group = await bed.admin.group(ou, uniqueName('grp').slice(0, 20));
      await bed.admin.addMembers(group, [kim, lee]);
    });
    // Seen by a normal cycle: must not be reported again by the resync.
    await bed.admin.modify(kim, 'replace', 'title', ['Lead']);
    expect((await watch.cycle()).events).toHaveLength(1);

    // The state now looks as if it had been recorded under another invocationId.
    const db = new Database(watch.db);
    db.prepare("UPDATE directory_state SET invocation_id = '00000000-0000-4000-8000-000000000000'").run();
    db.close();
    const leeRef = await ref(lee, 'user');
    const maxRef = await ref(max, 'user');
    await bed.admin.delete(lee);
    await bed.admin.modify(max, 'replace', 'title', ['New']);
    const outside = await bed.admin.move(
      max,
      `CN=${uniqueName('maxout').slice(0, 20)},CN=Users,${samba.baseDN}`,
    );
    const nina = await bed.admin.user(watch.ou, uniqueName('nina').slice(0, 20));

    const { stdout, events } = await watch.cycle();
    expect(stdout).toMatch(/^resync: /m);
    const groupRef = await ref(group, 'group');
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'object.created', object: await ref(nina, 'user') },
        { type: 'group.member.removed', object: groupRef, member: leeRef },
        { type: 'object.deleted', object: leeRef },
        { type: 'object.moved', object: maxRef, from: max, to: outside, leftScope: true },
      ]),
    );
    expect(events).toHaveLength(4);
    const status = await runCli(['--config', watch.config, 'status', '--json'], env);
    expect(status.stdout).not.toContain('00000000-0000-4000-8000-000000000000');
    expect((await watch.cycle()).events).toEqual([]);
    await bed.admin.delete(outside);
  });

  it('an OU moved into the base brings its objects into scope; moved out, they leave it', async () => {
    const outside = await bed.admin.ou(uniqueName('outside'));
    const incoming = await bed.admin.ou('Incoming', outside);
    const pat = await bed.admin.user(incoming, uniqueName('pat').slice(0, 20));
    const crew = await bed.admin.group(incoming, uniqueName('crew').slice(0, 20));
    await bed.admin.addMembers(crew, [pat]);
    const watch = await Watch.start(bed.admin, samba, 'scope');

    const inside = await bed.admin.move(incoming, `OU=Incoming,${watch.ou}`);
    const patIn = pat.replace(incoming, inside);
    const crewIn = crew.replace(incoming, inside);
    const patRef = await ref(patIn, 'user');
    const crewRef = await ref(crewIn, 'group');
    let { events } = await watch.cycle();
    expect(events).toEqual(
      expect.arrayContaining([
        { type: 'object.created', object: patRef, enteredScope: true },
        { type: 'object.created', object: crewRef, enteredScope: true },
      ]),
    );
    expect(events).toHaveLength(2);
    expect(watch.query('SELECT member_dn FROM memberships')).toEqual([{ member_dn: patIn }]);

    const back = await bed.admin.move(inside, `OU=Back,${outside}`);
    ({ events } = await watch.cycle());
    expect(events).toEqual(
      expect.arrayContaining([
        {
          type: 'object.moved',
          object: patRef,
          from: patIn,
          to: patIn.replace(inside, back),
          leftScope: true,
        },
        {
          type: 'object.moved',
          object: crewRef,
          from: crewIn,
          to: crewIn.replace(inside, back),
          leftScope: true,
        },
      ]),
    );
    expect(events).toHaveLength(2);
    expect(watch.query('SELECT guid FROM objects')).toEqual([]);
    expect((await watch.cycle()).events).toEqual([]);
  });

  it('a deleted group is object.deleted, and leaves the group it was nested in', async () => {
    let inner = '';
    let outer = '';
    let quinn = '';
    const watch = await Watch.start(bed.admin, samba, 'grpdel', async (ou) => {
      quinn = await bed.admin.user(ou, uniqueName('quinn').slice(0, 20));
      inner = await bed.admin.group(ou, uniqueName('inner').slice(0, 20));
      outer = await bed.admin.group(ou, uniqueName('outer').slice(0, 20));
      await bed.admin.addMembers(inner, [quinn]);
      await bed.admin.addMembers(outer, [inner]);
    });
    const innerRef = await ref(inner, 'group');
    await bed.admin.delete(inner);
    const { events } = await watch.cycle();
    expect(events).toEqual([
      { type: 'object.deleted', object: innerRef },
      { type: 'group.member.removed', object: await ref(outer, 'group'), member: innerRef },
    ]);
    expect(watch.query('SELECT count(*) AS n FROM memberships')).toEqual([{ n: 0 }]);
  });

  it('history shows hostile values escaped in text and exact in JSON', async () => {
    let rex = '';
    const watch = await Watch.start(bed.admin, samba, 'hostile', async (ou) => {
      rex = await bed.admin.user(ou, uniqueName('rex').slice(0, 20), { description: 'plain' });
    });
    const hostile = 'line1\r\nFAKE 2026-01-01  #1  object.deleted <b>x</b>';
    await bed.admin.modify(rex, 'replace', 'description', [hostile]);
    await watch.cycle();
    const text = await runCli(['--config', watch.config, 'history'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      'description: "plain" → "line1\\r\\nFAKE 2026-01-01  #1  object.deleted <b>x</b>"',
    );
    expect(text.stdout.split('\n').filter((l) => l.startsWith('FAKE'))).toEqual([]);
    const json = await runCli(['--config', watch.config, 'history', '--json'], env);
    const events = JSON.parse(json.stdout) as { changes?: { after: string[] }[] }[];
    expect(events.at(-1)?.changes?.[0]?.after).toEqual([hostile]);
  });

  it('history --since takes a duration or a date and rejects anything else (exit 64)', async () => {
    const watch = await Watch.start(bed.admin, samba, 'since', async (ou) => {
      await bed.admin.user(ou, uniqueName('sam').slice(0, 20));
    });
    await bed.admin.user(watch.ou, uniqueName('sue').slice(0, 20));
    await watch.cycle();
    const recent = await runCli(['--config', watch.config, 'history', '--since', '5m', '--json'], env);
    expect(JSON.parse(recent.stdout)).toHaveLength(1);
    const future = await runCli(
      ['--config', watch.config, 'history', '--since', '2999-01-01', '--json'],
      env,
    );
    expect(JSON.parse(future.stdout)).toEqual([]);
    const bad = await runCli(['--config', watch.config, 'history', '--since', 'yesterday'], env);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--since "yesterday": expected a duration/);
  });

  it('takes a new baseline, silently, when directory.baseDN changes', async () => {
    const watch = await Watch.start(bed.admin, samba, 'rescope', async (ou) => {
      await bed.admin.user(ou, uniqueName('tom').slice(0, 20));
    });
    const sub = await bed.admin.ou('Sub', watch.ou);
    await bed.admin.user(sub, uniqueName('tim').slice(0, 20));
    watch.config = writeConfig(watch.dir, samba, { baseDN: sub });
    const { stdout, stderr } = await watch.once();
    expect(stdout).toMatch(/^baseline: 1 objects/m);
    expect(stderr).toMatch(/directory.baseDN or directory.filter changed/);
    expect(await watch.newEvents()).toEqual([]);
  });

  it('another domain controller (a different dsServiceName) triggers a resync that reports only real differences', async () => {
    let pam = '';
    const watch = await Watch.start(bed.admin, samba, 'otherdc', async (ou) => {
      pam = await bed.admin.user(ou, uniqueName('pam').slice(0, 20));
    });
    const db = new Database(watch.db);
    db.prepare(
      "UPDATE directory_state SET ds_service_name = 'CN=NTDS Settings,CN=DC2,CN=Servers,CN=Site,CN=Sites,CN=Configuration,DC=example,DC=test'",
    ).run();
    db.close();
    await bed.admin.modify(pam, 'replace', 'title', ['Seen by the resync']);
    const { stdout, events } = await watch.cycle();
    expect(stdout).toMatch(/^resync: /m);
    expect(events).toEqual([
      {
        type: 'object.modified',
        object: await ref(pam, 'user'),
        changes: [{ attribute: 'title', before: [], after: ['Seen by the resync'] }],
      },
    ]);
    expect((await watch.cycle()).stdout).toMatch(/^incremental: /m);
  });

  it('re-baselines silently when the state file is deleted', async () => {
    const watch = await Watch.start(bed.admin, samba, 'fresh', async (ou) => {
      await bed.admin.user(ou, uniqueName('olga').slice(0, 20));
    });
    rmSync(join(watch.dir, 'state'), { recursive: true });
    const { stdout } = await watch.once();
    expect(stdout).toMatch(/^baseline: 1 objects/m);
    expect(await watch.newEvents()).toEqual([]);
  });
});
