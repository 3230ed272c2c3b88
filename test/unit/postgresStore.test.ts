/**
 * What only the PostgreSQL store has: the leader lease and its fencing token, claims across
 * instances, and the errors an administrator sees for an unreachable database, a refused
 * password and a schema newer than the code. Real PostgreSQL, started for this file.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';

import { DeposedError, ExitCode } from '../../src/errors.js';
import type { NewMessage } from '../../src/store/ports.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { PG_PASSWORD, requirePostgres, postgresForFile } from '../support/postgres.js';

const withPostgres = requirePostgres();
const postgres = postgresForFile(withPostgres);

/** The error opening the store failed with; fails the test if it opened. */
async function refusal(options: { url: string }): Promise<Error & { exitCode: number }> {
  const store = await PostgresStore.open(options).catch((e: unknown) => e as Error & { exitCode: number });
  if (store instanceof PostgresStore) {
    await store.close();
    throw new Error('the store opened, but it should have been refused');
  }
  return store;
}

const message: NewMessage = {
  cycleId: null,
  createdAt: '2026-12-04T08:00:00.000Z',
  status: 'pending',
  kind: 'change',
  objectGuid: null,
  messageId: '<m@x>',
  envelope: { from: 'a@x.test', to: ['b@x.test'], cc: [] },
  subject: 's',
  text: 't',
  html: 'h',
};

describe.skipIf(!withPostgres)('the PostgreSQL store', () => {
  it('one instance holds the lease; another takes it over only once it expired, with a new token', async () => {
    const url = await postgres.server.database();
    const a = await PostgresStore.open({ url });
    const b = await PostgresStore.open({ url });
    try {
      const first = await a.lease.acquire('a', 1);
      expect(first).toMatchObject({ holder: 'a', token: 1n });
      expect(await b.lease.acquire('b', 1)).toMatchObject({ holder: 'a', token: 1n });
      expect(await a.lease.acquire('a', 1)).toMatchObject({ holder: 'a', token: 1n }); // renewed
      await new Promise((r) => setTimeout(r, 1_200));
      expect(await b.lease.acquire('b', 30)).toMatchObject({ holder: 'b', token: 2n });
      expect(await a.lease.acquire('a', 30)).toMatchObject({ holder: 'b', token: 2n });
      await b.lease.release('b', 2n);
      expect(await a.lease.acquire('a', 30)).toMatchObject({ holder: 'a', token: 3n });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('two processes given one ha.instance by mistake: only the one that took the lease holds it', async () => {
    const url = await postgres.server.database();
    const first = await PostgresStore.open({ url });
    const second = await PostgresStore.open({ url });
    try {
      expect(await first.lease.acquire('adnotify-a', 30)).toMatchObject({ holder: 'adnotify-a', mine: true });
      const other = await second.lease.acquire('adnotify-a', 30);
      expect(other).toMatchObject({ holder: 'adnotify-a', mine: false, token: 1n });
      expect(await first.lease.acquire('adnotify-a', 30)).toMatchObject({ mine: true, token: 1n });
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('a deposed leader commits nothing: its transaction rolls back at the fence', async () => {
    const url = await postgres.server.database();
    const old = await PostgresStore.open({ url });
    const next = await PostgresStore.open({ url });
    try {
      const lease = await old.lease.acquire('old', 1);
      old.fence({ instance: 'old', token: lease.token });
      await old.transaction(() => old.cycles.setMeta('k', 'by the leader'));
      await old.assertLeader(); // held: a write outside the state may go ahead
      // Paused past its lease: the standby takes over while the old leader is mid-transaction.
      const late = old.transaction(async () => {
        await old.cycles.setMeta('k', 'by a deposed leader');
        await new Promise((r) => setTimeout(r, 1_300));
        expect(await next.lease.acquire('next', 30)).toMatchObject({ holder: 'next', token: 2n });
      });
      await expect(late).rejects.toBeInstanceOf(DeposedError);
      expect(await next.cycles.getMeta('k')).toBe('by the leader');
      // Nor may it write to the directory (the lifecycle job asks just before).
      await expect(old.assertLeader()).rejects.toBeInstanceOf(DeposedError);
      await expect(old.transaction(() => old.assertLeader())).rejects.toBeInstanceOf(DeposedError);
    } finally {
      await old.close();
      await next.close();
    }
  });

  it('a leader paused inside a transaction does not block the new one: the takeover ends that transaction', async () => {
    const url = await postgres.server.database();
    const old = await PostgresStore.open({ url });
    const next = await PostgresStore.open({ url });
    try {
      const lease = await old.lease.acquire('old', 1);
      old.fence({ instance: 'old', token: lease.token });
      let release!: () => void;
      const pause = new Promise<void>((r) => (release = r));
      // The old leader writes a row, then stops (as if SIGSTOPped) with its transaction open.
      const stuck = old.transaction(async () => {
        await old.cycles.setMeta('k', 'by the old leader');
        await pause;
        await old.cycles.setMeta('k2', 'after the pause');
      });
      stuck.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1_300));
      const taken = await next.lease.acquire('next', 30);
      next.fence({ instance: 'next', token: taken.token });
      const started = Date.now();
      await next.transaction(() => next.cycles.setMeta('k', 'by the new leader'));
      expect(Date.now() - started).toBeLessThan(2_000); // not waiting for the paused one's lock
      release();
      await expect(stuck).rejects.toThrow();
      expect(await next.cycles.getMeta('k')).toBe('by the new leader');
      expect(await next.cycles.getMeta('k2')).toBeUndefined();
    } finally {
      await old.close();
      await next.close();
    }
  });

  it('two instances never claim the same message; a claim of a dead instance is taken over after its time', async () => {
    const url = await postgres.server.database();
    const a = await PostgresStore.open({ url });
    const b = await PostgresStore.open({ url });
    try {
      const ids = await Promise.all([1, 2, 3, 4, 5].map(() => a.outbox.add(message)));
      const claims = await Promise.all(
        ids.flatMap((id) => [
          a.outbox.claim(id, 't1', 't3', 'a').then((ok) => (ok ? 'a' : null)),
          b.outbox.claim(id, 't1', 't3', 'b').then((ok) => (ok ? 'b' : null)),
        ]),
      );
      expect(claims.filter((c) => c !== null)).toHaveLength(5);
      expect(await b.outbox.due('t2')).toEqual([]);
      expect(await b.outbox.due('t3')).toHaveLength(5);
      expect(await b.outbox.claim(ids[0]!, 't3', 't5', 'b')).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an unreachable database exits 69 naming the host; a wrong password exits 77 without printing it', async () => {
    const down = `postgres://postgres:${PG_PASSWORD}@127.0.0.1:1/adnotify`;
    const unreachable = await refusal({ url: down });
    expect(unreachable).toMatchObject({ exitCode: ExitCode.unavailable });
    expect(unreachable.message).toContain('127.0.0.1:1');
    expect(unreachable.message).not.toContain(PG_PASSWORD);

    const url = await postgres.server.database();
    const wrong = url.replace(encodeURIComponent(PG_PASSWORD), 'not-the-password-9f3');
    const refused = await refusal({ url: wrong });
    expect(refused).toMatchObject({ exitCode: ExitCode.noPermission });
    expect(refused.message).toMatch(/refused the credentials/);
    expect(refused.message).not.toContain('not-the-password-9f3');
  });

  it('a database written by a newer adnotify exits 78 and is left as it is', async () => {
    const url = await postgres.server.database();
    await (await PostgresStore.open({ url })).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('UPDATE adnotify_schema SET version = 999');
    await client.end();
    const error = await refusal({ url });
    expect(error).toMatchObject({ exitCode: ExitCode.config });
    expect(error.message).toMatch(/newer adnotify \(schema 999/);
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    try {
      expect((await check.query('SELECT version FROM adnotify_schema')).rows).toEqual([{ version: 999 }]);
    } finally {
      await check.end();
    }
  });
});
