/**
 * Lifecycle schedules: temporary memberships and removals, temporary additional owners and
 * managers. A schedule is `scheduled` until its start is applied, `active` until its end is,
 * then `done`; `cancelled` stops it where it is; `failed` records a step that could not be
 * applied, with the reason, and where the job goes on from when the failure may clear.
 */
import {
  noSchedules,
  type NewSchedule,
  type Schedule,
  type ScheduleCounts,
  type ScheduleState,
  type ScheduleStore,
  type Synchronous,
} from '../ports.js';
import { scheduleOf, type ScheduleRow } from '../rows.js';
import type { Statements } from './database.js';

export class SqliteSchedules implements Synchronous<ScheduleStore> {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  add(s: NewSchedule): number {
    const result = this.#sql
      .get(
        `INSERT INTO schedules (kind, target_guid, target_dn, subject_guid, subject_dn, start_at, end_at, state,
                                created_at, created_by, updated_at)
         VALUES (@kind, @targetGuid, @targetDn, @subjectGuid, @subjectDn, @startAt, @endAt, 'scheduled',
                 @createdAt, @createdBy, @createdAt)`,
      )
      .run(s);
    return Number(result.lastInsertRowid);
  }

  get(id: number): Schedule | undefined {
    const row = this.#sql.get('SELECT * FROM schedules WHERE id = ?').get(id) as ScheduleRow | undefined;
    return row ? scheduleOf(row) : undefined;
  }

  /** Schedules the job has to look at: scheduled, active, or failed with a retry. */
  pending(): Schedule[] {
    const sql = `SELECT * FROM schedules
      WHERE state IN ('scheduled', 'active') OR (state = 'failed' AND resume_from IS NOT NULL)
      ORDER BY id`;
    return (this.#sql.get(sql).all() as ScheduleRow[]).map(scheduleOf);
  }

  /** Schedules still running or failed (what an administrator must look at), or every one with `all`. */
  list(all = false): Schedule[] {
    const sql = all
      ? 'SELECT * FROM schedules ORDER BY id'
      : "SELECT * FROM schedules WHERE state IN ('scheduled', 'active', 'failed') ORDER BY id";
    return (this.#sql.get(sql).all() as ScheduleRow[]).map(scheduleOf);
  }

  /** Schedules by state, for /metrics; failed ones split by whether they are retried. */
  counts(): ScheduleCounts {
    const rows = this.#sql
      .get(
        `SELECT CASE WHEN state = 'failed' AND resume_from IS NULL THEN 'failed-final' ELSE state END AS s,
                COUNT(*) AS n
         FROM schedules GROUP BY s`,
      )
      .all() as { s: ScheduleState | 'failed-final'; n: number }[];
    const out = noSchedules();
    for (const r of rows) out[r.s] = r.n;
    return out;
  }

  /** The step applied: the schedule moves to `state`, and any failure is cleared. */
  setState(
    id: number,
    from: ScheduleState,
    state: ScheduleState,
    at: string,
    note: string | null = null,
  ): boolean {
    return (
      this.#sql
        .get(
          `UPDATE schedules SET state = ?, resume_from = NULL, failures = 0, last_error = ?, updated_at = ?
           WHERE id = ? AND state = ?`,
        )
        .run(state, note, at, id, from).changes === 1
    );
  }

  setWarned(id: number, from: ScheduleState, at: string): boolean {
    return (
      this.#sql
        .get(
          `UPDATE schedules SET warned_at = ?, state = COALESCE(resume_from, state), resume_from = NULL,
             failures = 0, last_error = NULL, updated_at = ?
           WHERE id = ? AND state = ?`,
        )
        .run(at, at, id, from).changes === 1
    );
  }

  recordStart(id: number, changed: boolean): void {
    this.#sql.get('UPDATE schedules SET start_changed = ? WHERE id = ?').run(changed ? 1 : 0, id);
  }

  /**
   * A step could not be applied: state `failed` with the reason. `resumeFrom` is where the
   * next run goes on from (the failure may clear), or null when nothing is left to apply.
   */
  setFailed(
    id: number,
    from: ScheduleState,
    error: string,
    resumeFrom: 'scheduled' | 'active' | null,
    at: string,
  ): boolean {
    return (
      this.#sql
        .get(
          `UPDATE schedules SET state = 'failed', resume_from = ?, failures = failures + 1, last_error = ?,
             updated_at = ?
           WHERE id = ? AND state = ?`,
        )
        .run(resumeFrom, error, at, id, from).changes === 1
    );
  }
}
