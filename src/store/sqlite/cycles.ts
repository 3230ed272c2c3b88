/**
 * Cycle metadata on SQLite: the DC and cursor (one row), the cycle rows events and messages
 * refer to, the last run (one row), and the meta key-value table.
 */
import type { DirectoryIdentity } from '../../core/types.js';
import {
  openedCycle,
  type CycleKind,
  type CycleLog,
  type CycleRecord,
  type DirectoryState,
  type LastRun,
  type Synchronous,
} from '../ports.js';
import type { Statements } from './database.js';
import { REDACTION_KEY } from './scrub.js';

export class SqliteCycleLog implements Synchronous<CycleLog> {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  directoryState(): DirectoryState | undefined {
    const row = this.#sql
      .get(
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
    this.#sql
      .get(
        `INSERT INTO directory_state (id, url, ds_service_name, invocation_id, usn_cursor, baseline_at, updated_at)
         VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, ds_service_name = excluded.ds_service_name,
           invocation_id = excluded.invocation_id, usn_cursor = excluded.usn_cursor,
           baseline_at = excluded.baseline_at, updated_at = excluded.updated_at`,
      )
      .run(identity.url, identity.dsServiceName, identity.invocationId, cursor, baselineAt, at);
  }

  setCursor(cursor: bigint, at: string): void {
    this.#sql.get('UPDATE directory_state SET usn_cursor = ?, updated_at = ? WHERE id = 1').run(cursor, at);
  }

  begin(kind: CycleKind, startedAt: string): number {
    const cycle = openedCycle(kind, startedAt);
    const result = this.#sql
      .get(
        `INSERT INTO cycles (kind, started_at, finished_at, duration_ms, outcome, objects, groups, memberships, events, error)
         VALUES (@kind, @startedAt, @finishedAt, @durationMs, @outcome, @objects, @groups, @memberships, @events, @error)`,
      )
      .run(cycle);
    return Number(result.lastInsertRowid);
  }

  finish(id: number, cycle: Omit<CycleRecord, 'kind' | 'startedAt'>): void {
    const { finishedAt, durationMs, outcome, objects, groups, memberships, events, error } = cycle;
    this.#sql
      .get(
        `UPDATE cycles SET finished_at = @finishedAt, duration_ms = @durationMs, outcome = @outcome,
           objects = @objects, groups = @groups, memberships = @memberships, events = @events, error = @error
         WHERE id = @id`,
      )
      .run({ finishedAt, durationMs, outcome, objects, groups, memberships, events, error, id });
  }

  setLastRun(run: LastRun): void {
    const { kind, startedAt, finishedAt, durationMs, outcome, events, error } = run;
    this.#sql
      .get(
        `INSERT INTO last_run (id, kind, started_at, finished_at, duration_ms, outcome, events, error)
         VALUES (1, @kind, @startedAt, @finishedAt, @durationMs, @outcome, @events, @error)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, started_at = excluded.started_at,
           finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
           outcome = excluded.outcome, events = excluded.events, error = excluded.error`,
      )
      .run({ kind, startedAt, finishedAt, durationMs, outcome, events, error });
  }

  lastRun(): LastRun | undefined {
    return this.#sql
      .get(
        `SELECT kind, started_at AS startedAt, finished_at AS finishedAt, duration_ms AS durationMs, outcome,
                events, error FROM last_run WHERE id = 1`,
      )
      .get() as LastRun | undefined;
  }

  getMeta(key: string): string | undefined {
    const value = this.#sql.get('SELECT value FROM meta WHERE key = ?').pluck().get(key);
    return typeof value === 'string' ? value : undefined;
  }

  setMeta(key: string, value: string): void {
    this.#sql
      .get(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  /** Made with the state (or by migration 6); see SnapshotPolicy. */
  redactionKey(): Uint8Array {
    return Buffer.from(this.getMeta(REDACTION_KEY) ?? '', 'hex');
  }
}
