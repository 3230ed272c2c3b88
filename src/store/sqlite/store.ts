/**
 * The state on one SQLite file (WAL, mode 0600): every port of ports.ts, sharing one
 * connection, so that a cycle's snapshot rows, events, messages and cursor commit in one
 * transaction, and a cycle that fails part-way commits nothing.
 */
import { TemporaryError } from '../../errors.js';
import {
  promisedPort,
  settled,
  type AuditStore,
  type CycleLog,
  type EventLog,
  type OutboxStore,
  type PruneCounts,
  type ReminderStore,
  type ScheduleStore,
  type SnapshotStore,
  type StateStore,
  type StateTables,
} from '../ports.js';
import { SqliteAudit } from './audit.js';
import { SqliteCycleLog } from './cycles.js';
import { openDatabase, Statements, type Db } from './database.js';
import { SqliteEventLog } from './events.js';
import { SqliteOutbox } from './outbox.js';
import { SqliteReminders } from './reminders.js';
import { SqliteSchedules } from './schedules.js';
import { SqliteSnapshot } from './snapshot.js';
import { SqliteTables } from './tables.js';

export class SqliteStore implements StateStore {
  readonly #db: Db;
  #inTransaction = false;
  readonly snapshot: SnapshotStore;
  readonly events: EventLog;
  readonly cycles: CycleLog;
  readonly outbox: OutboxStore;
  readonly schedules: ScheduleStore;
  readonly reminders: ReminderStore;
  /** One instance by design: no lease, nothing to fence. */
  readonly lease = null;
  readonly audit: AuditStore;
  readonly tables: StateTables;

  private constructor(db: Db) {
    this.#db = db;
    this.tables = new SqliteTables(db);
    const statements = new Statements(db);
    this.snapshot = promisedPort<SnapshotStore>(new SqliteSnapshot(db, statements));
    this.events = promisedPort<EventLog>(new SqliteEventLog(statements));
    this.cycles = promisedPort<CycleLog>(new SqliteCycleLog(statements));
    this.outbox = promisedPort<OutboxStore>(new SqliteOutbox(statements));
    this.schedules = promisedPort<ScheduleStore>(new SqliteSchedules(statements));
    this.reminders = promisedPort<ReminderStore>(new SqliteReminders(statements));
    this.audit = promisedPort<AuditStore>(new SqliteAudit(statements));
  }

  /** Opens (creating with mode 0600 when missing), checks and migrates the state file. */
  static open(path: string): SqliteStore {
    return new SqliteStore(openDatabase(path));
  }

  /**
   * BEGIN IMMEDIATE: the write lock is taken at once, so a second adnotify process on the same
   * file is told so (TemporaryError) instead of failing part-way. Async so a cycle can stream
   * LDAP pages into it.
   */
  fence(): void {
    // One instance by design: nothing to fence.
  }

  assertLeader(): Promise<void> {
    return Promise.resolve();
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inTransaction) throw new Error('transactions do not nest');
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (err: unknown) {
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new TemporaryError('the state database is locked by another adnotify process; try again', {
          cause: err,
        });
      }
      throw err;
    }
    this.#inTransaction = true;
    try {
      const result = await work();
      this.#db.exec('COMMIT');
      return result;
    } catch (err: unknown) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw err;
    } finally {
      this.#inTransaction = false;
    }
  }

  /** Pending, held and failed messages stay. Freed pages are overwritten (secure_delete). */
  prune(before: string): Promise<PruneCounts> {
    return settled(() => this.#prune(before));
  }

  #prune(before: string): PruneCounts {
    this.#db.pragma('secure_delete = ON');
    try {
      return this.#db.transaction(() => {
        const events = this.#db.prepare('DELETE FROM events WHERE at < ?').run(before).changes;
        const messages = this.#db
          .prepare("DELETE FROM outbox WHERE status = 'sent' AND COALESCE(sent_at, created_at) < ?")
          .run(before).changes;
        const cycles = this.#db
          .prepare(
            `DELETE FROM cycles WHERE started_at < ?
               AND NOT EXISTS (SELECT 1 FROM events WHERE events.cycle_id = cycles.id)
               AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.cycle_id = cycles.id)`,
          )
          .run(before).changes;
        return { events, messages, cycles };
      })();
    } finally {
      this.#db.pragma('secure_delete = OFF');
    }
  }

  close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    return Promise.resolve();
  }
}
