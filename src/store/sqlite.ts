/**
 * The state database: one SQLite file (WAL, mode 0600) holding the cursor and DC identity,
 * the snapshot, cycles, events and the outbox. Every write of a cycle happens inside
 * {@link SqliteStore.transaction}, so a cycle that fails part-way commits nothing.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

import type { DirectoryIdentity, MemberRef } from '../core/types.js';
import { StateError, TemporaryError, errorMessage } from '../errors.js';
import { MIGRATIONS } from './migrations.js';
import type { SnapshotObject } from './snapshot.js';

export interface DirectoryState {
  url: string;
  dsServiceName: string;
  invocationId: string;
  usnCursor: bigint;
  baselineAt: string;
  updatedAt: string;
}

export interface CycleRecord {
  kind: 'baseline' | 'incremental' | 'resync';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: 'ok' | 'failed';
  objects: number;
  groups: number;
  memberships: number;
  events: number;
  error: string | null;
}

export interface SnapshotCounts {
  objects: number;
  groups: number;
  containers: number;
  memberships: number;
}

export type OutboxCounts = Record<'pending' | 'held' | 'sent' | 'failed', number>;

export class SqliteStore {
  readonly #db: Database.Database;
  #inTransaction = false;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Opens (creating with mode 0600 when missing) and migrates the state file. */
  static open(path: string): SqliteStore {
    const dir = dirname(path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
    } catch (err: unknown) {
      throw stateError(path, err);
    }
    const store = new SqliteStore(db);
    try {
      store.#migrate(path);
    } catch (err: unknown) {
      db.close();
      throw err instanceof StateError ? err : stateError(path, err);
    }
    return store;
  }

  #migrate(path: string): void {
    const current = Number(this.#db.pragma('user_version', { simple: true }));
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new StateError(
        `${path} was written by a newer adnotify (schema ${current}, this one knows ${latest}); upgrade adnotify or point state.path elsewhere.`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      this.#db.transaction(() => {
        this.#db.exec(migration.sql);
        this.#db.pragma(`user_version = ${migration.version}`);
      })();
    }
  }

  /**
   * Runs `work` in one write transaction (BEGIN IMMEDIATE): everything it writes commits
   * together or not at all. Async so a cycle can stream LDAP pages into it; cycles never
   * overlap, so there is one transaction at a time.
   */
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

  directoryState(): DirectoryState | undefined {
    const row = this.#db
      .prepare(
        'SELECT url, ds_service_name, invocation_id, usn_cursor, baseline_at, updated_at FROM directory_state WHERE id = 1',
      )
      .safeIntegers(true)
      .get() as
      | {
          url: string;
          ds_service_name: string;
          invocation_id: string;
          usn_cursor: bigint;
          baseline_at: string;
          updated_at: string;
        }
      | undefined;
    if (!row) return undefined;
    return {
      url: row.url,
      dsServiceName: row.ds_service_name,
      invocationId: row.invocation_id,
      usnCursor: row.usn_cursor,
      baselineAt: row.baseline_at,
      updatedAt: row.updated_at,
    };
  }

  setDirectoryState(identity: DirectoryIdentity, cursor: bigint, at: string, baselineAt: string): void {
    this.#db
      .prepare(
        `INSERT INTO directory_state (id, url, ds_service_name, invocation_id, usn_cursor, baseline_at, updated_at)
         VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, ds_service_name = excluded.ds_service_name,
           invocation_id = excluded.invocation_id, usn_cursor = excluded.usn_cursor,
           baseline_at = excluded.baseline_at, updated_at = excluded.updated_at`,
      )
      .run(identity.url, identity.dsServiceName, identity.invocationId, cursor, baselineAt, at);
  }

  putObject(object: SnapshotObject): void {
    this.#statement(
      'putObject',
      `INSERT INTO objects (guid, dn, class, usn_changed, attributes) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn, class = excluded.class,
         usn_changed = excluded.usn_changed, attributes = excluded.attributes`,
    ).run(object.guid, object.dn, object.class, object.usnChanged, JSON.stringify(object.attributes));
  }

  putContainer(guid: string, dn: string): void {
    this.#statement(
      'putContainer',
      'INSERT INTO containers (guid, dn) VALUES (?, ?) ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn',
    ).run(guid, dn);
  }

  /** Replaces a group's stored members; a member without a GUID is keyed by its DN. */
  replaceMemberships(groupGuid: string, members: readonly MemberRef[]): void {
    this.#statement('deleteMembers', 'DELETE FROM memberships WHERE group_guid = ?').run(groupGuid);
    const insert = this.#statement(
      'insertMember',
      'INSERT OR REPLACE INTO memberships (group_guid, member_guid, member_dn) VALUES (?, ?, ?)',
    );
    for (const member of members) insert.run(groupGuid, member.guid ?? `dn:${member.dn}`, member.dn);
  }

  recordCycle(cycle: CycleRecord): number {
    const result = this.#db
      .prepare(
        `INSERT INTO cycles (kind, started_at, finished_at, duration_ms, outcome, objects, groups, memberships, events, error)
         VALUES (@kind, @startedAt, @finishedAt, @durationMs, @outcome, @objects, @groups, @memberships, @events, @error)`,
      )
      .run(cycle);
    return Number(result.lastInsertRowid);
  }

  lastCycle(): (CycleRecord & { id: number }) | undefined {
    const row = this.#db
      .prepare(
        `SELECT id, kind, started_at AS startedAt, finished_at AS finishedAt, duration_ms AS durationMs, outcome,
                objects, groups, memberships, events, error
         FROM cycles ORDER BY id DESC LIMIT 1`,
      )
      .get() as (CycleRecord & { id: number }) | undefined;
    return row;
  }

  counts(): SnapshotCounts {
    const one = (sql: string) =>
      Number((this.#db.prepare(sql).pluck().get() as number | bigint | undefined) ?? 0);
    return {
      objects: one('SELECT count(*) FROM objects'),
      groups: one("SELECT count(*) FROM objects WHERE class = 'group'"),
      containers: one('SELECT count(*) FROM containers'),
      memberships: one('SELECT count(*) FROM memberships'),
    };
  }

  outboxCounts(): OutboxCounts {
    const counts: OutboxCounts = { pending: 0, held: 0, sent: 0, failed: 0 };
    const rows = this.#db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all() as {
      status: keyof OutboxCounts;
      n: number;
    }[];
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  readonly #statements = new Map<string, Database.Statement>();

  #statement(name: string, sql: string): Database.Statement {
    let statement = this.#statements.get(name);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(name, statement);
    }
    return statement;
  }
}

function stateError(path: string, err: unknown): StateError {
  const code = (err as { code?: string }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StateError(
      `${path} is not a usable adnotify state database (${code}). Move it aside and run "adnotify once" to take a new baseline (no mail is sent for a baseline).`,
      { cause: err },
    );
  }
  return new StateError(`cannot open the state database ${path}: ${errorMessage(err)}`, { cause: err });
}
