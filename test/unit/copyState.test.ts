/**
 * migrate-state's copy (copyState): everything a state holds arrives in the other store as it
 * was, SQLite to PostgreSQL and back, read through the ports; a target that holds state is
 * refused and left untouched; ids given after the copy follow the copied ones.
 */
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { copyState } from '../../src/store/copy.js';
import type { StateStore } from '../../src/store/ports.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';
import { requirePostgres, postgresForFile } from '../support/postgres.js';
import { A_SCHEDULE } from '../support/schedules.js';

const withPostgres = requirePostgres();
const postgres = postgresForFile(withPostgres);

const identity = {
  url: 'ldaps://dc1',
  dsServiceName: 'CN=NTDS Settings,CN=DC1',
  invocationId: '76670900-84f5-4ed0-8992-f07ecb7c431f',
  highestCommittedUSN: 9_007_199_254_740_993n,
  defaultNamingContext: null,
  namingContexts: [],
};

/** A state with a row in every table, written through the ports as adnotify writes it. */
async function fill(store: StateStore): Promise<void> {
  await store.transaction(async () => {
    await store.cycles.setDirectoryState(identity, identity.highestCommittedUSN, 'base', 'upd');
    await store.snapshot.putObject({
      guid: 'g-1',
      dn: 'CN=Ann,OU=Staff,DC=x',
      class: 'user',
      usnChanged: 9_007_199_254_740_990n,
      attributes: { title: ['Boss'], mail: ['ann@x.test'] },
    });
    await store.snapshot.putObject({
      guid: 'grp-1',
      dn: 'CN=Team,OU=Staff,DC=x',
      class: 'group',
      usnChanged: 12n,
      attributes: { cn: ['Team'] },
    });
    await store.snapshot.replaceMemberships('grp-1', [
      { guid: 'g-1', dn: 'CN=Ann,OU=Staff,DC=x', sid: null },
      { guid: null, dn: 'CN=Foreign,DC=y', sid: 'S-1-5-21-1-2-3-1104' },
    ]);
    await store.snapshot.putContainer('c-1', 'OU=Staff,DC=x');
    const cycle = await store.cycles.begin('incremental', '2026-12-01T08:00:00.000Z');
    await store.events.add(cycle, '2026-12-01T08:00:01.000Z', {
      type: 'object.modified',
      object: { guid: 'g-1', dn: 'CN=Ann,OU=Staff,DC=x', class: 'user' },
      changes: [{ attribute: 'title', before: ['Clerk'], after: ['Boss'] }],
    });
    await store.outbox.add({
      cycleId: cycle,
      createdAt: '2026-12-01T08:00:02.000Z',
      status: 'pending',
      kind: 'change',
      objectGuid: 'g-1',
      messageId: '<m1@x>',
      envelope: { from: 'a@x.test', to: ['ann@x.test'], cc: [] },
      subject: 'Your title changed',
      text: 't',
      html: 'h',
      protectedGroup: true,
    });
    await store.cycles.finish(cycle, {
      finishedAt: '2026-12-01T08:00:03.000Z',
      durationMs: 3000,
      outcome: 'ok',
      objects: 1,
      groups: 0,
      memberships: 0,
      events: 1,
      error: null,
    } as never);
    await store.cycles.setMeta('note', 'kept');
    await store.reminders.record({
      userGuid: 'g-1',
      expiresAt: '2026-12-10T00:00:00.000Z',
      threshold: 7,
      outcome: 'sent',
      at: '2026-12-03T00:00:00.000Z',
    });
    const id = await store.schedules.add(A_SCHEDULE);
    await store.schedules.recordStart(id, true);
  });
}

/** What the ports read back: the same on every store that holds the same state. */
async function contents(store: StateStore) {
  return {
    directory: await store.cycles.directoryState(),
    objects: await store.snapshot.getObjects(['g-1', 'grp-1']),
    members: await store.snapshot.members('grp-1'),
    history: await store.events.since('2026-01-01T00:00:00.000Z'),
    outbox: await store.outbox.list(),
    counts: await store.outbox.counts(),
    schedules: await store.schedules.list(true),
    reminders: await store.reminders.recorded('g-1', '2026-12-10T00:00:00.000Z'),
    note: await store.cycles.getMeta('note'),
    key: Buffer.from(await store.cycles.redactionKey()).toString('hex'),
    snapshot: await store.snapshot.counts(),
  };
}

describe.skipIf(!withPostgres)('migrate-state: copyState', () => {
  it('copies SQLite to PostgreSQL and back with nothing lost or changed', async () => {
    const dir = tempDir();
    const sqlite = SqliteStore.open(join(dir, 'a.db'));
    const pg = await PostgresStore.open({ url: await postgres.server.database() });
    const back = SqliteStore.open(join(dir, 'b.db'));
    try {
      await fill(sqlite);
      const original = await contents(sqlite);
      expect(original.history).toHaveLength(1);
      expect(original.outbox[0]).toBeDefined();

      const counts = await copyState(sqlite, pg, { from: 'a', to: 'pg' });
      expect(counts.get('objects')).toBe(2);
      expect(counts.get('outbox')).toBe(1);
      expect(await contents(pg)).toEqual(original);

      await copyState(pg, back, { from: 'pg', to: 'b' });
      expect(await contents(back)).toEqual(original);

      // New rows follow the copied ids: nothing collides with what was copied.
      const next = await pg.transaction(() => pg.cycles.begin('incremental', '2026-12-02T00:00:00.000Z'));
      expect(next).toBeGreaterThan(original.history[0]!.cycle);
      const message = await pg.outbox.add({ ...original.outbox[0]!, status: 'pending', messageId: '<m2@x>' });
      expect(message).toBeGreaterThan(original.outbox[0]!.id);
    } finally {
      await sqlite.close();
      await pg.close();
      await back.close();
    }
  });

  it('refuses a target that holds state, and leaves it as it was', async () => {
    const dir = tempDir();
    const a = SqliteStore.open(join(dir, 'a.db'));
    const pg = await PostgresStore.open({ url: await postgres.server.database() });
    try {
      await fill(a);
      await pg.cycles.setDirectoryState(identity, 5n, 'other', 'other');
      await expect(copyState(a, pg, { from: 'a', to: 'the target' })).rejects.toThrow(
        /the target already holds adnotify state: migrate-state copies only into an empty one/,
      );
      expect((await pg.cycles.directoryState())?.usnCursor).toBe(5n);
      expect(await pg.snapshot.counts()).toMatchObject({ objects: 0 });
    } finally {
      await a.close();
      await pg.close();
    }
  });

  it('refuses to copy from a database an instance still leads', async () => {
    const url = await postgres.server.database();
    const pg = await PostgresStore.open({ url });
    const target = SqliteStore.open(join(tempDir(), 'c.db'));
    try {
      await fill(pg);
      await pg.lease.acquire('adnotify-a', 30);
      await expect(copyState(pg, target, { from: 'pg', to: 'c' })).rejects.toThrow(
        /adnotify-a holds the leader lease of pg .*stop every adnotify instance/,
      );
      expect(await target.tables.isEmpty()).toBe(true);
    } finally {
      await pg.close();
      await target.close();
    }
  });
});
