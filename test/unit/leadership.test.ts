/**
 * Leadership over a real PostgreSQL lease: one of two instances leads, the other stands by;
 * a leader that stops renewing (paused) is replaced once its lease expired, finds out at its
 * next renewal, and can commit nothing meanwhile; a stopped leader hands the lease over at
 * once. With SQLite there is no lease and the one instance leads.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { Leadership, type Role } from '../../src/daemon/leadership.js';
import { healthOf } from '../../src/daemon/health.js';
import { DeposedError } from '../../src/errors.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';
import { healthyFacts } from '../support/health.js';
import { requirePostgres, postgresForFile } from '../support/postgres.js';
import { quietLogger } from '../support/quietLogger.js';

const withPostgres = requirePostgres();
const postgres = postgresForFile(withPostgres);

const clock = { now: () => new Date() };

function leadership(store: PostgresStore | SqliteStore, instance: string, roles: Role[]): Leadership {
  return new Leadership({
    store,
    instance,
    leaseSeconds: 3,
    log: quietLogger(),
    clock,
    changed: (role) => roles.push(role),
  });
}

describe.skipIf(!withPostgres)('leadership on the PostgreSQL lease', () => {
  it('one leads, one stands by; a paused leader is replaced after its lease and commits nothing when it wakes', async () => {
    const url = await postgres.server.database();
    const a = await PostgresStore.open({ url });
    const b = await PostgresStore.open({ url });
    const rolesA: Role[] = [];
    const rolesB: Role[] = [];
    const leaderA = leadership(a, 'a', rolesA);
    const leaderB = leadership(b, 'b', rolesB);
    try {
      // Before its first renewal an instance stands by, and its store commits nothing.
      expect(leaderA.role).toBe('standby');
      await expect(a.transaction(() => a.cycles.setMeta('k', 'too early'))).rejects.toBeInstanceOf(
        DeposedError,
      );
      await leaderA.renew();
      await leaderB.renew();
      expect([leaderA.role, leaderB.role]).toEqual(['leader', 'standby']);
      expect(rolesA).toEqual(['leader']);
      await a.transaction(() => a.cycles.setMeta('k', 'by a'));
      await expect(b.transaction(() => b.cycles.setMeta('k', 'by b'))).rejects.toBeInstanceOf(DeposedError);

      // a is paused: it renews no more. b takes over once the lease has expired, not before.
      await leaderB.renew();
      expect(leaderB.role).toBe('standby');
      await sleep(3_200);
      await leaderB.renew();
      expect(leaderB.role).toBe('leader');
      expect(rolesB).toEqual(['leader']);
      // a wakes up: what it commits is refused, and its next renewal tells it.
      await expect(a.transaction(() => a.cycles.setMeta('k', 'by a, late'))).rejects.toBeInstanceOf(
        DeposedError,
      );
      await leaderA.renew();
      expect(leaderA.role).toBe('standby');
      expect(rolesA).toEqual(['leader', 'standby']);
      expect(await b.cycles.getMeta('k')).toBe('by a');

      // Both are seen in the instances list with their roles.
      const view = await b.lease.view(30);
      expect(view.lease).toMatchObject({ holder: 'b', live: true });
      expect(view.instances.map((i) => [i.instance, i.role])).toEqual([
        ['a', 'standby'],
        ['b', 'leader'],
      ]);

      // A leader that stops hands the lease back: the other takes it at its next renewal.
      await leaderB.stop();
      await leaderA.renew();
      expect(leaderA.role).toBe('leader');
      await a.transaction(() => a.cycles.setMeta('k', 'by a again'));
    } finally {
      await leaderA.stop();
      await leaderB.stop();
      await a.close();
      await b.close();
    }
  });

  it('a leader that cannot reach the database stands by once its lease is over, and says so', async () => {
    const url = await postgres.server.database();
    const a = await PostgresStore.open({ url });
    const roles: Role[] = [];
    const leader = leadership(a, 'a', roles);
    try {
      await leader.renew();
      expect(leader.role).toBe('leader');
      await a.close(); // every query fails from now on, as with a database gone
      await leader.renew();
      expect(leader.down?.reason).toBeTruthy();
      expect(leader.role).toBe('leader'); // the lease still runs
      await sleep(3_100);
      await leader.renew();
      expect(leader.role).toBe('standby');
      expect(roles).toEqual(['leader', 'standby']);
    } finally {
      await leader.stop();
    }
  });
});

describe('leadership without a lease (SQLite)', () => {
  it('the one instance leads from the start, and /healthz says so', async () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    const roles: Role[] = [];
    const leader = leadership(store, 'solo', roles);
    await leader.start();
    expect(leader.role).toBe('leader');
    expect(leader.shared).toBe(false);
    await store.transaction(() => store.cycles.setMeta('k', 'v'));
    await leader.stop();
    await store.close();
    expect(roles).toEqual([]);
  });
});

describe('/healthz of a pair', () => {
  const now = new Date('2026-12-05T08:00:00.000Z');
  const long = new Date(now.getTime() - 3_600_000);

  it('a healthy standby is healthy, though it has not polled for an hour', () => {
    const health = healthOf(
      healthyFacts(now, { role: 'standby', shared: true, lastSuccess: long, startedAt: long }),
    );
    expect(health).toMatchObject({ healthy: true, role: 'standby' });
    const leader = healthOf(
      healthyFacts(now, { role: 'leader', shared: true, lastSuccess: long, startedAt: long }),
    );
    expect(leader).toMatchObject({ healthy: false, role: 'leader' });
  });

  it('an instance that cannot reach the state database is not healthy, leader or standby', () => {
    for (const role of ['leader', 'standby'] as const) {
      const health = healthOf(healthyFacts(now, { role, shared: true, stateDown: 'connection refused' }));
      expect(health.healthy).toBe(false);
      expect(health.reasons).toEqual(['the state database cannot be reached: connection refused']);
    }
  });
});
