/**
 * The state on PostgreSQL: every port of ports.ts, for an active/standby pair on a database
 * the organisation already runs. A transaction takes one client from the pool and every
 * port inside it uses that client (AsyncLocalStorage), so a cycle's snapshot rows, events,
 * messages and cursor commit together or not at all, as on SQLite; outside a transaction
 * each call is a statement of its own (delivery outcomes, as on SQLite).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

import type pg from 'pg';

import { DeposedError, errorMessage } from '../../errors.js';
import type {
  StateTables,
  AuditStore,
  CycleLog,
  EventLog,
  HeldLease,
  InstanceRecord,
  LeaseState,
  LeaseStore,
  OutboxStore,
  PruneCounts,
  ReminderStore,
  ScheduleStore,
  SnapshotStore,
  StateStore,
} from '../ports.js';
import { openPool, pgError, Sql, type PgOptions, type Txn } from './database.js';
import { PgAudit, PgCycleLog, PgEventLog, PgReminders } from './log.js';
import { PgOutbox, PgSchedules } from './queues.js';
import { PgSnapshot } from './snapshot.js';
import { PgTables } from './tables.js';

export class PostgresStore implements StateStore {
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #current = new AsyncLocalStorage<Txn>();
  readonly #sql: Sql;
  #fence: HeldLease | null = null;
  readonly snapshot: SnapshotStore;
  readonly events: EventLog;
  readonly cycles: CycleLog;
  readonly outbox: OutboxStore;
  readonly schedules: ScheduleStore;
  readonly reminders: ReminderStore;
  readonly audit: AuditStore;
  readonly lease: LeaseStore;
  readonly tables: StateTables;

  private constructor(pool: pg.Pool, url: string) {
    this.#pool = pool;
    this.#url = url;
    this.#sql = new Sql(pool, this.#current, url);
    this.snapshot = new PgSnapshot(this.#sql);
    this.events = new PgEventLog(this.#sql);
    this.cycles = new PgCycleLog(this.#sql);
    this.outbox = new PgOutbox(this.#sql);
    this.schedules = new PgSchedules(this.#sql);
    this.reminders = new PgReminders(this.#sql);
    this.audit = new PgAudit(this.#sql);
    this.lease = new PgLease(this.#sql);
    this.tables = new PgTables(this.#sql);
  }

  /** Connects, checks and migrates; fails with exit 69 (unreachable), 77 (refused) or 78 (newer). */
  static async open(options: PgOptions): Promise<PostgresStore> {
    return new PostgresStore(await openPool(options), options.url);
  }

  fence(held: HeldLease | null): void {
    this.#fence = held;
  }

  async assertLeader(): Promise<void> {
    const client = this.#current.getStore()?.client;
    if (client !== undefined) {
      await this.#sql.flush();
      await this.#checkFence(client);
    } else if (await this.#deposed()) {
      throw new DeposedError(
        `${this.#fence?.instance ?? 'this instance'} no longer holds the leader lease: the write was not made`,
      );
    }
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.#current.getStore()) throw new Error('transactions do not nest');
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err: unknown) {
      throw pgError(this.#url, err);
    }
    let broken = false;
    // A checked-out client has no error listener of the pool's: a connection the server ends
    // (a restart, or a new leader ending ours) must fail this transaction, not the process.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      if (this.#fence !== null) {
        // Named, so that a new leader can end this transaction if we are paused in it (PgLease).
        await client.query("SELECT set_config('application_name', $1, true)", [
          applicationName(this.#fence.instance),
        ]);
      }
      const txn: Txn = { client, pending: new Map(), ids: new Map() };
      const result = await this.#current.run(txn, async () => {
        const done = await work();
        await this.#sql.flush();
        return done;
      });
      await this.#checkFence(client);
      await client.query('COMMIT');
      return result;
    } catch (err: unknown) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      // Ended by a new leader (PgLease.acquire), or failed for any reason after losing the
      // lease: say deposed, so that the daemon stands by rather than retries.
      if (!(err instanceof DeposedError) && (await this.#deposed())) {
        throw new DeposedError(
          `${this.#fence?.instance ?? 'this instance'} no longer holds the leader lease: nothing was committed; the new leader goes on`,
          { cause: err },
        );
      }
      throw err instanceof Error && 'exitCode' in err ? err : pgError(this.#url, err);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** Whether this store is fenced with a lease it no longer holds (false when unknown). */
  async #deposed(): Promise<boolean> {
    const held = this.#fence;
    if (held === null) return false;
    try {
      const { rows } = await this.#pool.query<{ ours: boolean }>(
        'SELECT holder = $1 AND token = $2 AND expires_at > clock_timestamp() AS ours FROM ha_lease WHERE id = 1',
        [held.instance, held.token.toString()],
      );
      return rows[0]?.ours !== true;
    } catch {
      return false;
    }
  }

  /**
   * Just before COMMIT: is the lease still ours, with our token, unexpired by the database's
   * clock? FOR SHARE holds the row until the commit, so a takeover waits for it rather than
   * slipping in between the check and the commit.
   */
  async #checkFence(client: pg.PoolClient): Promise<void> {
    const held = this.#fence;
    if (held === null) return;
    const { rowCount } = await client.query(
      `SELECT 1 FROM ha_lease WHERE id = 1 AND holder = $1 AND token = $2 AND expires_at > clock_timestamp()
       FOR SHARE`,
      [held.instance, held.token.toString()],
    );
    if (rowCount !== 1) {
      throw new DeposedError(
        `${held.instance} no longer holds the leader lease (token ${held.token}): nothing was committed; the new leader goes on`,
      );
    }
  }

  async prune(before: string): Promise<PruneCounts> {
    return this.transaction(async () => {
      const events = await this.#sql.changed('DELETE FROM events WHERE at < $1', [before]);
      const messages = await this.#sql.changed(
        "DELETE FROM outbox WHERE status = 'sent' AND COALESCE(sent_at, created_at) < $1",
        [before],
      );
      const cycles = await this.#sql.changed(
        `DELETE FROM cycles WHERE started_at < $1
           AND NOT EXISTS (SELECT 1 FROM events WHERE events.cycle_id = cycles.id)
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.cycle_id = cycles.id)`,
        [before],
      );
      return { events, messages, cycles };
    });
  }

  async close(): Promise<void> {
    await this.#pool.end().catch((err: unknown) => {
      throw new Error(`closing the PostgreSQL pool: ${errorMessage(err)}`);
    });
  }
}

interface LeaseRow {
  holder: string | null;
  token: string;
  since: Date | null;
  heartbeat_at: Date | null;
  expires_at: Date | null;
  nonce: string | null;
  live: boolean | null;
}

const leaseState = (r: LeaseRow | undefined, nonce: string): LeaseState => ({
  holder: r?.holder ?? null,
  token: BigInt(r?.token ?? '0'),
  since: r?.since?.toISOString() ?? null,
  heartbeatAt: r?.heartbeat_at?.toISOString() ?? null,
  expiresAt: r?.expires_at?.toISOString() ?? null,
  live: r?.holder != null && r.live === true,
  mine: r?.holder != null && r.live === true && r.nonce === nonce,
});

/** How a leader's transactions are named in pg_stat_activity (at most 63 bytes, as PostgreSQL keeps). */
function applicationName(instance: string): string {
  let name = `adnotify:${instance}`;
  while (Buffer.byteLength(name) > 63) name = name.slice(0, -1);
  return name;
}

const LEASE_ROW = 'SELECT *, expires_at > clock_timestamp() AS live FROM ha_lease WHERE id = 1';

/** The lease row, with the database's clock the only clock: instances' clocks may disagree. */
class PgLease implements LeaseStore {
  readonly #sql: Sql;
  /** This process's, so that a renewal is only ever of its own lease. */
  readonly #nonce = randomUUID();

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async acquire(instance: string, seconds: number): Promise<LeaseState> {
    const [current] = await this.#sql.rows<LeaseRow>(LEASE_ROW);
    if (current?.holder != null && current.holder !== instance && current.live !== true) {
      // Taking over from a leader that may be paused inside a transaction, holding row locks
      // (the lease row's too, if paused between its fence check and COMMIT): end its open
      // transactions, whose commit the fence refuses anyway. The same user may end its own.
      await this.#sql.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = $1
           AND state IN ('idle in transaction', 'idle in transaction (aborted)')`,
        [applicationName(current.holder)],
      );
    }
    const ours = 'holder = $1 AND nonce = $3 AND expires_at > clock_timestamp()';
    const [row] = await this.#sql.rows<LeaseRow>(
      `UPDATE ha_lease SET
         token = CASE WHEN ${ours} THEN token ELSE token + 1 END,
         since = CASE WHEN ${ours} THEN since ELSE clock_timestamp() END,
         holder = $1,
         nonce = $3,
         heartbeat_at = clock_timestamp(),
         expires_at = clock_timestamp() + make_interval(secs => $2)
       WHERE id = 1 AND (holder IS NULL OR (holder = $1 AND nonce = $3) OR expires_at IS NULL
         OR expires_at <= clock_timestamp())
       RETURNING *, true AS live`,
      [instance, seconds, this.#nonce],
    );
    return leaseState(row ?? (await this.#sql.rows<LeaseRow>(LEASE_ROW))[0], this.#nonce);
  }

  async release(instance: string, token: bigint): Promise<void> {
    await this.#sql.query(
      'UPDATE ha_lease SET holder = NULL, nonce = NULL, expires_at = NULL WHERE id = 1 AND holder = $1 AND token = $2',
      [instance, token.toString()],
    );
  }

  async heartbeat(instance: string, role: 'leader' | 'standby'): Promise<void> {
    await this.#sql.query(
      `INSERT INTO ha_instances (instance, role, heartbeat_at) VALUES ($1, $2, clock_timestamp())
       ON CONFLICT (instance) DO UPDATE SET role = excluded.role, heartbeat_at = excluded.heartbeat_at`,
      [instance, role],
    );
  }

  async view(withinSeconds: number): Promise<{ lease: LeaseState; instances: InstanceRecord[] }> {
    const [lease] = await this.#sql.rows<LeaseRow>(LEASE_ROW);
    const rows = await this.#sql.rows<{ instance: string; role: 'leader' | 'standby'; heartbeat_at: Date }>(
      `SELECT instance, role, heartbeat_at FROM ha_instances
       WHERE heartbeat_at > clock_timestamp() - make_interval(secs => $1) ORDER BY instance`,
      [withinSeconds],
    );
    return {
      lease: leaseState(lease, this.#nonce),
      instances: rows.map((r) => ({
        instance: r.instance,
        role: r.role,
        heartbeatAt: r.heartbeat_at.toISOString(),
      })),
    };
  }
}
