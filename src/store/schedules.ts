/**
 * Lifecycle schedules: temporary memberships and removals, temporary additional owners and
 * managers. A schedule is `scheduled` until its start is applied, `active` until its end is,
 * then `done`; `cancelled` stops it where it is.
 */
import type Database from 'better-sqlite3';

export type ScheduleKind = 'member' | 'removal' | 'owner' | 'manager';
export type ScheduleState = 'scheduled' | 'active' | 'done' | 'cancelled';

export interface NewSchedule {
  kind: ScheduleKind;
  /** The group (member, removal, owner) or the user (manager). */
  targetGuid: string;
  targetDn: string;
  /** The member, owner or manager. */
  subjectGuid: string;
  subjectDn: string;
  startAt: string;
  endAt: string;
  createdAt: string;
}

export interface Schedule extends NewSchedule {
  id: number;
  state: ScheduleState;
  warnedAt: string | null;
  lastError: string | null;
  updatedAt: string;
}

interface Row {
  id: number;
  kind: ScheduleKind;
  target_guid: string;
  target_dn: string;
  subject_guid: string;
  subject_dn: string;
  start_at: string;
  end_at: string;
  state: ScheduleState;
  warned_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): Schedule => ({
  id: r.id,
  kind: r.kind,
  targetGuid: r.target_guid,
  targetDn: r.target_dn,
  subjectGuid: r.subject_guid,
  subjectDn: r.subject_dn,
  startAt: r.start_at,
  endAt: r.end_at,
  state: r.state,
  warnedAt: r.warned_at,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class Schedules {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  add(s: NewSchedule): number {
    const result = this.#db
      .prepare(
        `INSERT INTO schedules (kind, target_guid, target_dn, subject_guid, subject_dn, start_at, end_at, state,
                                created_at, updated_at)
         VALUES (@kind, @targetGuid, @targetDn, @subjectGuid, @subjectDn, @startAt, @endAt, 'scheduled',
                 @createdAt, @createdAt)`,
      )
      .run(s);
    return Number(result.lastInsertRowid);
  }

  get(id: number): Schedule | undefined {
    const row = this.#db.prepare('SELECT * FROM schedules WHERE id = ?').get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Schedules still to be applied (scheduled or active), or every one with `all`. */
  list(all = false): Schedule[] {
    const sql = all
      ? 'SELECT * FROM schedules ORDER BY id'
      : "SELECT * FROM schedules WHERE state IN ('scheduled', 'active') ORDER BY id";
    return (this.#db.prepare(sql).all() as Row[]).map(fromRow);
  }

  setState(id: number, state: ScheduleState, at: string): void {
    this.#db
      .prepare('UPDATE schedules SET state = ?, last_error = NULL, updated_at = ? WHERE id = ?')
      .run(state, at, id);
  }

  setWarned(id: number, at: string): void {
    this.#db.prepare('UPDATE schedules SET warned_at = ?, updated_at = ? WHERE id = ?').run(at, at, id);
  }

  setError(id: number, error: string, at: string): void {
    this.#db.prepare('UPDATE schedules SET last_error = ?, updated_at = ? WHERE id = ?').run(error, at, id);
  }
}
