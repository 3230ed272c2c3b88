/**
 * The state ports' contract, run against both implementations: SQLite on disk (what adnotify
 * runs on) and memory (what the app-level tests run on). A behaviour the app relies on is
 * proved once here for both, so the app tests on memory say something about production.
 */
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { MemoryStore } from '../../src/store/memory/store.js';
import { applyOwnChange } from '../../src/store/ownChange.js';
import type { NewMessage, NewSchedule, StateStore } from '../../src/store/ports.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';
import { postgresForFile, requirePostgres } from '../support/postgres.js';
import { A_SCHEDULE } from '../support/schedules.js';

const identity = {
  url: 'ldaps://dc1',
  dsServiceName: 'CN=NTDS Settings,CN=DC1',
  invocationId: '76670900-84f5-4ed0-8992-f07ecb7c431f',
  highestCommittedUSN: 9_007_199_254_740_993n, // above 2^53: must survive as a BigInt
  defaultNamingContext: null,
  namingContexts: [],
};

const message = (over: Partial<NewMessage> = {}): NewMessage => ({
  cycleId: null,
  createdAt: '2026-11-25T08:00:00.000Z',
  status: 'pending',
  kind: 'change',
  objectGuid: null,
  messageId: '<m@x>',
  envelope: { from: 'a@x.test', to: ['b@x.test'], cc: [] },
  subject: 's',
  text: 't',
  html: 'h',
  ...over,
});

const schedule: NewSchedule = A_SCHEDULE;

/** PostgreSQL started for this file (a fresh database per test), when installed. */
const withPostgres = requirePostgres();
const postgres = postgresForFile(withPostgres);

const stores: [string, () => Promise<StateStore>][] = [
  ['SqliteStore', () => Promise.resolve(SqliteStore.open(join(tempDir(), 'state.db')))],
  ['MemoryStore', () => Promise.resolve(new MemoryStore())],
];
if (withPostgres) {
  stores.push(['PostgresStore', async () => PostgresStore.open({ url: await postgres.server.database() })]);
}

describe.each(stores)('the state ports on %s', (_name, open) => {
  it('keeps a 64-bit USN cursor exactly', async () => {
    const store = await open();
    await store.cycles.setDirectoryState(identity, identity.highestCommittedUSN, 'now', 'then');
    expect((await store.cycles.directoryState())?.usnCursor).toBe(9_007_199_254_740_993n);
    await store.cycles.setCursor(identity.highestCommittedUSN + 1n, 'later');
    expect(await store.cycles.directoryState()).toMatchObject({
      usnCursor: 9_007_199_254_740_994n,
      updatedAt: 'later',
    });
    await store.close();
  });

  it('putObject replaces every field of a stored object, whether its DN stayed, changed case or moved', async () => {
    const store = await open();
    const put = (dn: string, usn: bigint, title: string) =>
      store.snapshot.putObject({
        guid: 'o-1',
        dn,
        class: 'user',
        usnChanged: usn,
        attributes: { title: [title] },
      });
    await store.transaction(async () => {
      await put('CN=O,OU=A,DC=x', 1n, 'first');
      await put('CN=O,OU=A,DC=x', 2n, 'same DN');
      expect(await store.snapshot.getObject('o-1')).toMatchObject({
        usnChanged: 2n,
        attributes: { title: ['same DN'] },
      });
      await put('CN=o,OU=A,DC=x', 3n, 'case');
      expect(await store.snapshot.getObject('o-1')).toMatchObject({ dn: 'CN=o,OU=A,DC=x', usnChanged: 3n });
      await put('CN=O,OU=B,DC=x', 4n, 'moved');
      expect((await store.snapshot.objectsBeneath('OU=A,DC=x')).map((o) => o.guid)).toEqual([]);
      expect(await store.snapshot.objectsBeneath('OU=B,DC=x')).toMatchObject([
        { guid: 'o-1', dn: 'CN=O,OU=B,DC=x', usnChanged: 4n, attributes: { title: ['moved'] } },
      ]);
    });
    expect((await store.snapshot.counts()).objects).toBe(1);
    await store.close();
  });

  it('inside a transaction every read sees the writes before it, in order (PostgreSQL holds writes back)', async () => {
    const store = await open();
    const object = (title: string) => ({
      guid: 'o-1',
      dn: 'CN=O,DC=x',
      class: 'user',
      usnChanged: 7n,
      attributes: { title: [title] },
    });
    const m = (guid: string) => ({ guid, dn: `CN=${guid},DC=x`, sid: null });
    await store.transaction(async () => {
      const cycle = await store.cycles.begin('incremental', '2026-11-25T08:00:00.000Z');
      await store.snapshot.putObject(object('first'));
      await store.snapshot.putObject(object('second'));
      expect((await store.snapshot.getObject('o-1'))?.attributes).toEqual({ title: ['second'] });
      await store.snapshot.replaceMemberships('g-1', [m('x'), m('y')]);
      await store.snapshot.updateMemberships('g-1', await store.snapshot.members('g-1'), [m('y'), m('z')]);
      await store.snapshot.replaceMemberships('g-2', [m('x')]);
      await store.snapshot.updateMemberships('g-2', [{ guid: 'x', dn: 'CN=x,DC=x' }], []);
      await store.snapshot.replaceMemberships('g-2', [m('w')]);
      const members = await store.snapshot.membersOf(['g-1', 'g-2', 'g-3']);
      expect(new Map([...members].map(([g, list]) => [g, list.map((x) => x.guid).sort()]))).toEqual(
        new Map([
          ['g-1', ['y', 'z']],
          ['g-2', ['w']],
          ['g-3', []],
        ]),
      );
      const ref = { guid: 'o-1', dn: 'CN=O,DC=x', class: 'user' };
      const first = await store.events.add(cycle, '2026-11-25T08:00:01.000Z', {
        type: 'object.created',
        object: ref,
      });
      const second = await store.events.add(cycle, '2026-11-25T08:00:02.000Z', {
        type: 'object.deleted',
        object: ref,
      });
      expect(second).toBeGreaterThan(first);
      await store.events.replace(first, { type: 'object.created', object: { ...ref, dn: 'CN=P,DC=x' } });
      expect((await store.events.ofCycle(cycle, ['o-1'])).map((e) => [e.type, e.object.dn])).toEqual([
        ['object.created', 'CN=P,DC=x'],
        ['object.deleted', 'CN=O,DC=x'],
      ]);
    });
    await expect(
      store.transaction(async () => {
        await store.snapshot.putObject({ ...object('third'), guid: 'o-2' });
        await store.snapshot.replaceMemberships('g-1', []);
        throw new Error('the cycle failed');
      }),
    ).rejects.toThrow('the cycle failed');
    expect(await store.snapshot.getObject('o-2')).toBeUndefined();
    expect((await store.snapshot.members('g-1')).map((x) => x.guid).sort()).toEqual(['y', 'z']);
    await store.close();
  });

  it('commits nothing when the work inside a transaction fails, in any port', async () => {
    const store = await open();
    await expect(
      store.transaction(async () => {
        await store.snapshot.putContainer('guid-1', 'OU=A,DC=x');
        await store.cycles.setDirectoryState(identity, 1n, 'now', 'then');
        await store.outbox.add(message());
        await Promise.resolve();
        throw new Error('LDAP went away');
      }),
    ).rejects.toThrow('LDAP went away');
    expect((await store.snapshot.counts()).containers).toBe(0);
    expect(await store.cycles.directoryState()).toBeUndefined();
    expect((await store.outbox.counts()).pending).toBe(0);
    await expect(store.transaction(() => Promise.resolve(1))).resolves.toBe(1);
    await store.close();
  });

  it('moves the stored DNs beneath a renamed container, and only those', async () => {
    const store = await open();
    const put = async (guid: string, dn: string) => {
      await store.snapshot.putObject({ guid, dn, class: 'user', usnChanged: 1n, attributes: {} });
    };
    await put('a', 'CN=A,OU=Staff,DC=x');
    await put('b', 'CN=B,OU=Team,OU=Staff,DC=x');
    await put('c', 'CN=C,OU=XStaff,DC=x');
    await put('d', 'CN=D,ou=staff,DC=x');
    await store.snapshot.putContainer('staff', 'OU=Staff,DC=x');
    await store.snapshot.putContainer('team', 'OU=Team,OU=Staff,DC=x');
    await store.snapshot.replaceMemberships('g', [
      { guid: 'b', sid: null, dn: 'CN=B,OU=Team,OU=Staff,DC=x' },
    ]);

    expect(await store.snapshot.renameSubtree('OU=Staff,DC=x', 'OU=People,DC=x')).toBe(3);
    const dns = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (g) => (await store.snapshot.getObject(g))?.dn),
    );
    expect(dns).toEqual([
      'CN=A,OU=People,DC=x',
      'CN=B,OU=Team,OU=People,DC=x',
      'CN=C,OU=XStaff,DC=x',
      'CN=D,OU=People,DC=x',
    ]);
    expect(await store.snapshot.containerDn('team')).toBe('OU=Team,OU=People,DC=x');
    expect(await store.snapshot.containerDn('staff')).toBe('OU=Staff,DC=x'); // the container itself is the caller's
    expect(await store.snapshot.members('g')).toEqual([{ guid: 'b', dn: 'CN=B,OU=Team,OU=People,DC=x' }]);
    expect((await store.snapshot.objectsBeneath('OU=People,DC=x')).map((o) => o.guid).sort()).toEqual([
      'a',
      'b',
      'd',
    ]);
    await store.snapshot.deleteContainersWithin('OU=People,DC=x');
    expect(await store.snapshot.containerGuids()).toEqual(['staff']);
    await store.close();
  });

  it('keeps memberships by GUID, or by DN for a member without one, and writes only the difference', async () => {
    const store = await open();
    const a = { guid: 'a', sid: null, dn: 'CN=A,DC=x' };
    const b = { guid: 'b', sid: null, dn: 'CN=B,DC=x' };
    const foreign = { guid: null, sid: null, dn: 'CN=F,DC=y' };
    await store.snapshot.putObject({
      guid: 'g',
      dn: 'CN=G,DC=x',
      class: 'group',
      usnChanged: 1n,
      attributes: {},
    });
    await store.snapshot.replaceMemberships('g', [a, foreign]);
    expect(await store.snapshot.groupsContaining('dn:CN=F,DC=y')).toEqual(['g']);

    await store.snapshot.updateMemberships('g', await store.snapshot.members('g'), [
      { ...a, dn: 'CN=A2,DC=x' },
      b,
    ]);
    expect((await store.snapshot.members('g')).sort((x, y) => x.dn.localeCompare(y.dn))).toEqual([
      { guid: 'a', dn: 'CN=A2,DC=x' },
      { guid: 'b', dn: 'CN=B,DC=x' },
    ]);
    await store.snapshot.setMemberDn('b', 'CN=B2,DC=x');
    expect(await store.snapshot.memberDn('b')).toBe('CN=B2,DC=x');
    await applyOwnChange(store.snapshot, 'g', 'member', 'delete', { guid: 'a', dn: 'CN=A2,DC=x' });
    await applyOwnChange(store.snapshot, 'g', 'secretary', 'add', { guid: 'b', dn: 'CN=B2,DC=x' });
    expect(await store.snapshot.members('g')).toEqual([{ guid: 'b', dn: 'CN=B2,DC=x' }]);
    expect((await store.snapshot.getObject('g'))?.attributes['secretary']).toEqual([
      { dn: 'CN=B2,DC=x', guid: 'b' },
    ]);
    expect(await store.snapshot.counts()).toEqual({ objects: 1, groups: 1, containers: 0, memberships: 1 });
    await store.snapshot.deleteObject('g');
    expect(await store.snapshot.counts()).toEqual({ objects: 0, groups: 0, containers: 0, memberships: 0 });
    await store.close();
  });

  it('keeps events with their cycle, in order, as history prints them', async () => {
    const store = await open();
    const cycle = await store.cycles.begin('incremental', '2026-11-25T08:00:00.000Z');
    const object = { guid: 'a', dn: 'CN=A,DC=x', class: 'user' };
    const other = { guid: 'b', dn: 'CN=B,DC=x', class: 'user' };
    await store.events.add(cycle, '2026-11-25T08:00:01.000Z', { type: 'object.created', object });
    await store.events.add(cycle, '2026-11-25T09:00:01.000Z', { type: 'object.deleted', object });
    const third = await store.events.add(cycle, '2026-11-25T09:00:02.000Z', {
      type: 'object.created',
      object: other,
    });
    expect((await store.events.since('2026-11-25T08:30:00.000Z')).slice(0, 1)).toEqual([
      { id: 2, cycle, at: '2026-11-25T09:00:01.000Z', type: 'object.deleted', object },
    ]);
    expect(await store.events.objectsOfCycle(cycle)).toEqual([
      { guid: 'a', events: 2 },
      { guid: 'b', events: 1 },
    ]);
    expect((await store.events.ofCycle(cycle, ['b'])).map((e) => e.type)).toEqual(['object.created']);
    expect(await store.events.typesOfCycle(cycle)).toEqual(
      new Map([
        ['object.created', 2],
        ['object.deleted', 1],
      ]),
    );
    await store.events.delete(third);
    expect(await store.events.ofCycle(cycle, ['b'])).toEqual([]);
    await store.close();
  });

  it('moves messages through the outbox: due, retried, failed, held, released, discarded', async () => {
    const store = await open();
    const cycle = await store.cycles.begin('incremental', 'now');
    const first = await store.outbox.add(message({ cycleId: cycle }));
    const second = await store.outbox.add(message({ cycleId: cycle, createdAt: '2026-11-25T09:00:00.000Z' }));
    expect((await store.outbox.due('2026-11-25T08:30:00.000Z')).map((m) => m.id)).toEqual([first]);
    await store.outbox.markRetry(first, 1, '2026-11-25T10:00:00.000Z', 'busy');
    await store.outbox.markFailed(second, 3, '550 no such user');
    expect(await store.outbox.counts()).toEqual({ pending: 1, held: 0, digest: 0, sent: 0, failed: 1 });
    expect(await store.outbox.retry('all', 'now')).toBe(1);
    expect(await store.outbox.holdCycle(cycle)).toBe(2);
    expect(await store.outbox.release('now', cycle)).toBe(2);
    await store.outbox.markSent(first, '2026-11-25T10:00:01.000Z', 2);
    expect(await store.outbox.get(first)).toMatchObject({ status: 'sent', attempts: 2, lastError: null });
    expect(await store.outbox.discard(first, 'now')).toBe(0); // a sent message stays
    expect(await store.outbox.discard(second, 'now')).toBe(1);
    expect((await store.outbox.list()).map((m) => m.id)).toEqual([first]);
    await store.close();
  });

  it('keeps each channel apart: due by channel, SIEM records never held, digest items marked sent once, waiting counted by channel', async () => {
    const store = await open();
    const cycle = await store.cycles.begin('incremental', 'now');
    const mail = await store.outbox.add(message({ cycleId: cycle }));
    const chat = await store.outbox.add(message({ cycleId: cycle, channel: 'chat' }));
    const siem = await store.outbox.add(message({ cycleId: cycle, channel: 'siem.syslog' }));
    const digest = await store.outbox.add(message({ cycleId: cycle, status: 'digest' }));
    const later = '2026-11-26T00:00:00.000Z';
    expect((await store.outbox.due(later, 10, 'chat')).map((m) => m.id)).toEqual([chat]);
    expect((await store.outbox.due(later, 10, 'mail')).map((m) => m.id)).toEqual([mail]);
    expect((await store.outbox.get(siem))?.channel).toBe('siem.syslog');
    // The flood guard: mail and chat held, the SIEM record and the digest item untouched.
    expect(await store.outbox.holdCycle(cycle)).toBe(2);
    expect((await store.outbox.get(siem))?.status).toBe('pending');
    expect((await store.outbox.get(digest))?.status).toBe('digest');
    expect(await store.outbox.waitingByChannel()).toEqual(
      new Map([
        ['mail', 1],
        ['chat', 1],
        ['siem.syslog', 1],
      ]),
    );
    expect(await store.outbox.markDigested([digest, mail], 'then')).toBe(1);
    expect(await store.outbox.markDigested([digest], 'again')).toBe(0);
    expect(await store.outbox.get(digest)).toMatchObject({ status: 'sent', sentAt: 'then' });
    expect(await store.outbox.counts()).toEqual({ pending: 1, held: 2, digest: 0, sent: 1, failed: 0 });
    await store.close();
  });

  it('claims a message for one sender at a time; every outcome ends the claim; an old claim expires', async () => {
    const store = await open();
    const id = await store.outbox.add(message());
    const t = (m: number) => `2026-11-25T08:0${m}:00.000Z`;
    expect(await store.outbox.claim(id, t(0), t(1), 'daemon')).toBe(true);
    expect(await store.outbox.claim(id, t(0), t(1), 'daemon')).toBe(false);
    expect(await store.outbox.due(t(0))).toEqual([]);
    expect((await store.outbox.get(id))?.claimedUntil).toBe(t(1));
    expect(await store.outbox.discard(id, t(0))).toBe(0); // being sent
    expect(await store.outbox.claim(id, t(2), t(3), 'cli')).toBe(true); // the first sender died
    await store.outbox.markWaiting(id, 'unreachable');
    expect((await store.outbox.get(id))?.claimedUntil).toBeNull();
    expect((await store.outbox.due(t(2))).map((m) => m.id)).toEqual([id]);
    await store.outbox.holdCycle(-1);
    expect(await store.outbox.discard(id, t(2))).toBe(1);
    expect(await store.outbox.claim(id, t(2), t(3), 'cli')).toBe(false); // discarded: never sent
    await store.close();
  });

  it('releases the claims of a sender that is gone, and only those', async () => {
    const store = await open();
    const a = await store.outbox.add(message());
    const b = await store.outbox.add(message());
    const [now, later] = ['2026-11-25T08:00:00.000Z', '2026-11-25T08:01:00.000Z'];
    await store.outbox.claim(a, now, later, 'host:111');
    await store.outbox.claim(b, now, later, 'host:222');
    expect(await store.outbox.releaseClaims((owner) => owner === 'host:111')).toBe(1);
    expect(await store.outbox.get(a)).toMatchObject({ claimedUntil: null, claimedBy: null });
    expect(await store.outbox.get(b)).toMatchObject({ claimedUntil: later, claimedBy: 'host:222' });
    expect((await store.outbox.due(now)).map((m) => m.id)).toEqual([a]);
    await store.close();
  });

  it("the flood guard holds a cycle's messages but never its copies about protected groups", async () => {
    const store = await open();
    const cycle = await store.cycles.begin('incremental', 'now');
    const ordinary = await store.outbox.add(message({ cycleId: cycle }));
    const privileged = await store.outbox.add(message({ cycleId: cycle, protectedGroup: true }));
    expect(await store.outbox.holdCycle(cycle)).toBe(1);
    expect(await store.outbox.get(ordinary)).toMatchObject({ status: 'held', protectedGroup: false });
    expect(await store.outbox.get(privileged)).toMatchObject({ status: 'pending', protectedGroup: true });
    expect(await store.outbox.discard('held', 'now')).toBe(1);
    expect((await store.outbox.list()).map((m) => m.id)).toEqual([privileged]);
    await store.close();
  });

  it('keeps schedules: pending until done, failures with where to go on from, counts by state', async () => {
    const store = await open();
    const a = await store.schedules.add(schedule);
    const b = await store.schedules.add(schedule);
    const c = await store.schedules.add(schedule);
    expect(await store.schedules.setState(a, 'scheduled', 'active', 't1')).toBe(true);
    await store.schedules.setFailed(b, 'scheduled', 'no write access', 'scheduled', 't1');
    await store.schedules.setFailed(c, 'scheduled', 'the group is gone', null, 't1');
    expect((await store.schedules.pending()).map((s) => s.id)).toEqual([a, b]);
    expect(await store.schedules.get(b)).toMatchObject({
      state: 'failed',
      resumeFrom: 'scheduled',
      failures: 1,
    });
    await store.schedules.setWarned(b, 'failed', 't2');
    expect(await store.schedules.get(b)).toMatchObject({ state: 'scheduled', warnedAt: 't2', failures: 0 });
    expect(await store.schedules.counts()).toMatchObject({ scheduled: 1, active: 1, 'failed-final': 1 });
    expect((await store.schedules.list()).length).toBe(3);
    await store.schedules.setState(a, 'active', 'done', 't3');
    expect((await store.schedules.list()).length).toBe(2);
    expect((await store.schedules.list(true)).length).toBe(3);
    await store.close();
  });

  it("changes a schedule's state only from the state the caller read: a cancelled schedule stays cancelled", async () => {
    const store = await open();
    const id = await store.schedules.add(schedule);
    expect(await store.schedules.setState(id, 'scheduled', 'cancelled', 't1')).toBe(true);
    expect(await store.schedules.setState(id, 'scheduled', 'active', 't2')).toBe(false);
    expect(await store.schedules.setWarned(id, 'scheduled', 't2')).toBe(false);
    expect(await store.schedules.setFailed(id, 'scheduled', 'no write access', 'scheduled', 't2')).toBe(
      false,
    );
    expect(await store.schedules.get(id)).toMatchObject({ state: 'cancelled', updatedAt: 't1', failures: 0 });
    await store.close();
  });

  it('records password reminders once per threshold, and prunes old events and sent mail only', async () => {
    const store = await open();
    await store.reminders.record({
      userGuid: 'u',
      expiresAt: '2026-12-01',
      threshold: 7,
      outcome: 'sent',
      at: 't',
    });
    await store.reminders.record({
      userGuid: 'u',
      expiresAt: '2026-12-01',
      threshold: 7,
      outcome: 'passed',
      at: 't',
    });
    await store.reminders.record({
      userGuid: 'u',
      expiresAt: '2026-12-01',
      threshold: 3,
      outcome: 'passed',
      at: 't',
    });
    expect([...(await store.reminders.recorded('u', '2026-12-01'))].sort()).toEqual([3, 7]);
    expect((await store.reminders.recorded('u', '2027-01-01')).size).toBe(0);

    const old = await store.cycles.begin('incremental', '2026-01-01T00:00:00.000Z');
    await store.events.add(old, '2026-01-01T00:00:01.000Z', {
      type: 'object.created',
      object: { guid: 'a', dn: 'CN=A', class: 'user' },
    });
    const sent = await store.outbox.add(message({ createdAt: '2026-01-01T00:00:00.000Z' }));
    await store.outbox.markSent(sent, '2026-01-01T00:00:02.000Z', 1);
    await store.outbox.add(message({ createdAt: '2026-01-01T00:00:00.000Z' })); // pending: kept
    expect(await store.prune('2026-06-01T00:00:00.000Z')).toEqual({ events: 1, messages: 1, cycles: 1 });
    expect(await store.outbox.counts()).toEqual({ pending: 1, held: 0, digest: 0, sent: 0, failed: 0 });
    await store.close();
  });

  it('keeps audit records until matched or pruned, and where each audit file was read', async () => {
    const store = await open();
    const record = (at: string, attribute: string) => ({
      at,
      actorSid: 'S-1-5-21-1-2-3-1102',
      actorAccount: null,
      operation: 'modify' as const,
      objectGuid: null,
      dn: 'CN=A,DC=x',
      account: null,
      attribute,
      member: null,
    });
    await store.audit.add([
      record('2026-12-02T08:00:00.000Z', 'title'),
      record('2026-12-02T09:00:00.000Z', 'mail'),
    ]);
    const [first, second] = await store.audit.unused('2026-12-02T00:00:00.000Z');
    expect([first?.attribute, second?.attribute]).toEqual(['title', 'mail']);
    await store.audit.markUsed([first!.id]);
    expect((await store.audit.unused('2026-12-02T00:00:00.000Z')).map((r) => r.attribute)).toEqual(['mail']);
    expect(await store.audit.unused('2026-12-02T09:30:00.000Z')).toEqual([]);
    expect(await store.audit.prune('2026-12-02T08:30:00.000Z')).toBe(1);

    expect(await store.audit.positions()).toEqual([]);
    await store.audit.setPositions([
      { file: '2049:17', path: '/var/log/samba/audit.log', offset: 4096, head: 'ab' },
    ]);
    await store.audit.setPositions([
      { file: '2049:18', path: '/var/log/samba/audit.log', offset: 10, head: 'cd' },
    ]);
    expect(await store.audit.positions()).toEqual([
      { file: '2049:18', path: '/var/log/samba/audit.log', offset: 10, head: 'cd' },
    ]);
    await store.close();
  });
});

describe('outbox claims across processes (two SQLite connections to one file)', () => {
  it('only one connection wins the claim on a message', async () => {
    const path = join(tempDir(), 'state.db');
    const daemon = SqliteStore.open(path);
    const cli = SqliteStore.open(path);
    const id = await daemon.outbox.add(message());
    expect(await cli.outbox.claim(id, '2026-11-25T08:00:00.000Z', '2026-11-25T08:01:00.000Z', 'cli')).toBe(
      true,
    );
    expect(
      await daemon.outbox.claim(id, '2026-11-25T08:00:00.000Z', '2026-11-25T08:01:00.000Z', 'daemon'),
    ).toBe(false);
    expect(await daemon.outbox.due('2026-11-25T08:00:30.000Z')).toEqual([]);
    await daemon.close();
    await cli.close();
  });
});
