/**
 * Notification queueing on in-memory ports: who is told through the one recipient resolver,
 * public groups, and the flood guard.
 */
import { describe, expect, it } from 'vitest';

import { runCycle } from '../../src/poll/cycle.js';
import type { DirectoryEntry } from '../../src/core/types.js';
import { appBed, type AppBed } from '../support/appBed.js';

/**
 * Over the flood guard: four people join Team and an account without mail joins Domain Admins
 * (a protected group) in one cycle; `more` changes what else the cycle holds.
 */
async function floodOfFive(bed: AppBed, more: (team: DirectoryEntry) => void = () => undefined) {
  const team = bed.directory.group('Team');
  const admins = bed.directory.group('Domain Admins', [], { adminCount: '1' });
  const people = ['Ann', 'Ben', 'Cara', 'Dan'].map((n) => bed.directory.user(n));
  const intruder = bed.directory.user('Ivan', { mail: '' });
  await runCycle(bed.deps());
  for (const p of people) bed.directory.addMember(team, p);
  bed.directory.addMember(admins, intruder);
  more(team);
  return { team, admins, summary: await runCycle(bed.deps()) };
}

describe('queueNotifications on in-memory ports', () => {
  it('tells the added member, the owner of a public group and the administrators; a disabled owner is not mailed', async () => {
    const bed = appBed();
    const owner = bed.directory.user('Olga');
    const deputy = bed.directory.user('Dora', { userAccountControl: '514' });
    const ann = bed.directory.user('Ann');
    const team = bed.directory.group('Team', [], { managedBy: owner, secretary: deputy });
    await runCycle(bed.deps());

    bed.directory.addMember(team, ann);
    await runCycle(bed.deps());

    expect(await bed.mail()).toEqual([
      'olga@x.test: Changes to group Team',
      'ann@x.test: You were added to Team',
      'helpdesk@x.test: [adnotify] Changes to group Team',
    ]);
  });

  it('a group without mail is told through its members; one with mail at its address', async () => {
    const bed = appBed();
    const ann = bed.directory.user('Ann');
    const ben = bed.directory.user('Ben');
    const owners = bed.directory.group('Owners', [ann, ben]);
    const listOwners = bed.directory.group('ListOwners', [ann], { mail: 'list@x.test' });
    const team = bed.directory.group('Team', [], { managedBy: owners });
    const club = bed.directory.group('Club', [], { managedBy: listOwners });
    const cara = bed.directory.user('Cara');
    await runCycle(bed.deps());

    bed.directory.addMember(team, cara);
    bed.directory.addMember(club, cara);
    await runCycle(bed.deps());

    const owned = (await bed.mail()).filter((m) => !m.startsWith('cara@') && !m.startsWith('helpdesk@'));
    expect(owned).toEqual([
      'ann@x.test: Changes to group Team',
      'ben@x.test: Changes to group Team',
      'list@x.test: Changes to group Club',
    ]);
  });

  it('notify.publicGroups as a filter asks the directory; owners of other groups are not told', async () => {
    // ownerManager off: owners hear of membership changes only through publicGroupOwnerOnMembershipChange.
    const bed = appBed('notify: { ownerManager: false, publicGroups: "(description=public)" }');
    const owner = bed.directory.user('Olga');
    const ann = bed.directory.user('Ann');
    const open = bed.directory.group('Open', [], { managedBy: owner, description: 'public' });
    const closed = bed.directory.group('Closed', [], { managedBy: owner });
    await runCycle(bed.deps());

    bed.directory.addMember(open, ann);
    bed.directory.addMember(closed, ann);
    await runCycle(bed.deps());

    expect((await bed.mail()).filter((m) => m.startsWith('olga@'))).toEqual([
      'olga@x.test: Changes to group Open',
    ]);
    expect(bed.directory.searches).toBeGreaterThan(0);
  });

  it('mail-less groups nested in a loop are each expanded once (expandNestedGroups)', async () => {
    const bed = appBed('notify: { expandNestedGroups: true }');
    const people = ['Ann', 'Ben', 'Cara', 'Dan', 'Eve', 'Finn', 'Gus', 'Hal'].map((n) =>
      bed.directory.user(n),
    );
    const groups = people.map((p, i) => bed.directory.group(`Ring${i}`, [p]));
    // Every group holds every other one: a loop eight wide, as deep as anyone cares to follow.
    for (const g of groups) for (const other of groups) if (other !== g) bed.directory.addMember(g, other);
    const team = bed.directory.group('Team', [], { managedBy: groups[0]! });
    await runCycle(bed.deps());

    bed.directory.set(team, { description: 'changed' });
    await runCycle(bed.deps());

    expect((await bed.mail()).filter((m) => !m.startsWith('helpdesk@')).sort()).toEqual(
      people
        .map((p) => `${p.dn.slice(3, p.dn.indexOf(',')).toLowerCase()}@x.test: Changes to group Team`)
        .sort(),
    );
  }, 10_000);

  it('the flood guard holds every message of a cycle over delivery.maxMessagesPerCycle and alerts the administrators', async () => {
    const bed = appBed('delivery: { maxMessagesPerCycle: 3 }');
    const team = bed.directory.group('Team');
    const people = ['Ann', 'Ben', 'Cara', 'Dan'].map((n) => bed.directory.user(n));
    await runCycle(bed.deps());

    for (const p of people) bed.directory.addMember(team, p);
    const summary = await runCycle(bed.deps());

    expect(summary).toMatchObject({ held: true, messages: 5 });
    expect(await bed.store.outbox.counts()).toEqual({ pending: 1, held: 5, digest: 0, sent: 0, failed: 0 });
    expect((await bed.store.outbox.list('pending')).map((m) => m.subject)).toEqual([
      '[adnotify] 5 notifications held: release or discard them',
    ]);
  });

  it('the flood guard holds the chat and webhook items of the cycle with its mail, but not those about a protected group, and never the SIEM records', async () => {
    const bed = appBed(`delivery: { maxMessagesPerCycle: 3 }
channels:
  - { name: chat, type: slack, url: "https://hooks.slack.test/services/T0/B0/abcdefghijklmnop" }
  - { name: tier0, type: teams, url: "https://teams.test/workflows/abcdefghijklmnop", protectedOnly: true }
  - { name: hook, type: webhook, url: "https://hooks.test/adnotify", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", events: ["group.member.*"] }
siem: { file: /nonexistent/events.jsonl }
`);
    const { team, admins } = await floodOfFive(bed, (team) => {
      bed.directory.set(team, { description: 'renamed' });
    });

    const items = (await bed.store.outbox.list())
      .filter((m) => m.channel !== 'mail')
      .map((m) => `${m.channel} ${m.status} ${m.kind} ${m.subject}`);
    expect(items).toEqual([
      // One post per object per cycle; the webhook takes only membership events; tier0 only
      // the protected group. Team's are held with its mail, Domain Admins' go out.
      'chat held slack group Team: 5 changes',
      `hook held group.member.added group.member.added ${team.dn}`,
      `hook held group.member.added group.member.added ${team.dn}`,
      `hook held group.member.added group.member.added ${team.dn}`,
      `hook held group.member.added group.member.added ${team.dn}`,
      'chat pending slack group Domain Admins: 1 change',
      'tier0 pending teams group Domain Admins: 1 change',
      `hook pending group.member.added group.member.added ${admins.dn}`,
      ...(await bed.store.outbox.list())
        .filter((m) => m.channel === 'siem.file')
        .map((m) => `siem.file pending ${m.kind} ${m.subject}`),
    ]);
    // The SIEM has every event of the cycle, in event order.
    const siem = (await bed.store.outbox.list()).filter((m) => m.channel === 'siem.file');
    expect(siem.map((m) => (JSON.parse(m.text) as { id: number }).id)).toEqual(
      (await bed.store.events.since('1970-01-01'))
        .filter((e) => e.cycle === siem[0]?.cycleId)
        .map((e) => e.id),
    );
    expect(siem).toHaveLength(6);
    expect(await bed.store.outbox.release(bed.now.toISOString())).toBe(10);
    expect(await bed.store.outbox.list('held')).toEqual([]);
  });

  it('the flood guard never holds the administrators’ copy about a protected group, and its alert names the group', async () => {
    const bed = appBed('delivery: { maxMessagesPerCycle: 3 }');
    const { admins, summary } = await floodOfFive(bed);

    expect(summary).toMatchObject({ held: true });
    expect((await bed.store.outbox.list('pending')).map((m) => m.subject)).toEqual([
      '[adnotify] Protected group: Changes to group Domain Admins',
      '[adnotify] 5 notifications held: release or discard them',
    ]);
    expect((await bed.store.outbox.counts()).held).toBe(5);
    expect((await bed.store.outbox.list('held')).some((m) => m.subject.includes('Domain Admins'))).toBe(
      false,
    );
    const alert = (await bed.store.outbox.list('pending')).at(-1);
    expect(alert?.text).toContain('Protected groups changed in this cycle');
    expect(alert?.text).toContain(admins.dn);
    expect(alert?.text).toMatch(/already sent|were not held/);
  });

  it('reads the changed objects of a chunk in one query each, not one per object (PostgreSQL pays a round trip per query)', async () => {
    const bed = appBed('notify: { objectModified: true }');
    const boss = bed.directory.user('Boss');
    // More than the 500 objects the applier keeps in memory for the notifications.
    const staff = Array.from({ length: 700 }, (_, i) => bed.directory.user(`Staff${i}`, { manager: boss }));
    await runCycle(bed.deps());
    for (const person of staff) bed.directory.set(person, { title: 'Changed' });
    const reads = countSnapshotReads(bed);

    const summary = await runCycle(bed.deps());

    expect(summary.events).toBe(700);
    // Every changed user is told, and so is their manager.
    expect((await bed.mail()).filter((m) => m.startsWith('boss@'))).toHaveLength(700);
    expect(reads.single).toBeLessThan(20);
    expect(reads.many).toBeGreaterThan(0);
  });

  it('reads the people it tells and names a batch at a time: owners and added members are not read one by one', async () => {
    const bed = appBed();
    const owners = Array.from({ length: 300 }, (_, i) => bed.directory.user(`Owner${i}`));
    const joiners = Array.from({ length: 300 }, (_, i) => bed.directory.user(`Joiner${i}`));
    const teams = owners.map((owner, i) => bed.directory.group(`Team${i}`, [], { managedBy: owner }));
    await runCycle(bed.deps());
    teams.forEach((team, i) => {
      bed.directory.addMember(team, joiners[i]!);
    });
    const reads = countSnapshotReads(bed);

    const summary = await runCycle(bed.deps());

    expect(summary.events).toBe(300);
    const mail = await bed.mail();
    expect(mail.filter((m) => /^owner\d+@x\.test: Changes to group Team/.test(m))).toHaveLength(300);
    expect(mail).toContain('joiner299@x.test: You were added to Team299');
    // 600 people outside the cycle's changes, none read on their own.
    expect(reads.single).toBeLessThan(20);
  });

  it('warns about an unusable mail only for someone to be told, once, not for a member only named', async () => {
    const warnings = (bed: AppBed) =>
      bed
        .logged()
        .split('\n')
        .filter((l) => l.includes('not mailed: its mail attribute is not one plain address'));
    for (const told of [false, true]) {
      const bed = appBed(`notify: { newMemberOnAdd: ${told} }`);
      const owner = bed.directory.user('Olga');
      const bad = bed.directory.user('Bad', { mail: 'not an address' });
      const team = bed.directory.group('Team', [], { managedBy: owner });
      const club = bed.directory.group('Club', [], { managedBy: owner });
      await runCycle(bed.deps());
      bed.directory.addMember(team, bad);
      bed.directory.addMember(club, bad);
      await runCycle(bed.deps());

      expect(await bed.mail()).toContain('olga@x.test: Changes to group Team');
      expect(warnings(bed)).toHaveLength(told ? 1 : 0);
    }
  });
});

/** Counts the snapshot port's reads as the cycle sees them (not the memory store's own inner ones). */
function countSnapshotReads(bed: AppBed): { single: number; many: number } {
  const reads = { single: 0, many: 0 };
  const port = bed.store.snapshot;
  const counted = new Proxy(port, {
    get(target, key: keyof typeof port) {
      if (key === 'getObject') return (guid: string) => (reads.single++, target.getObject(guid));
      if (key === 'getObjects') return (guids: readonly string[]) => (reads.many++, target.getObjects(guids));
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  Object.defineProperty(bed.store, 'snapshot', { value: counted });
  return reads;
}
