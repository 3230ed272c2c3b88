/**
 * The outbox and the lifecycle schedules on PostgreSQL: the same rows and meanings as on
 * SQLite (store/sqlite/outbox.ts, schedules.ts). A claim is one conditional UPDATE: the row
 * lock makes it a test-and-set across instances, so two instances never send one message.
 */
import { SIEM_PREFIX } from '../../core/channels.js';
import {
  noSchedules,
  type NewMessage,
  type NewSchedule,
  type OutboxCounts,
  type OutboxMessage,
  type OutboxStatus,
  type OutboxStore,
  type Schedule,
  type ScheduleCounts,
  type ScheduleState,
  type ScheduleStore,
} from '../ports.js';
import { outboxMessage, scheduleOf, type OutboxRow, type ScheduleRow } from '../rows.js';
import type { Sql } from './database.js';

const RELEASED = 'claimed_until = NULL, claimed_by = NULL';

export class PgOutbox implements OutboxStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async add(m: NewMessage): Promise<number> {
    const id = await this.#sql.value<string>(
      `INSERT INTO outbox (cycle_id, created_at, status, kind, object_guid, message_id, envelope, subject,
                           text_body, html_body, attempts, next_attempt_at, protected_group, channel)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $2, $11, $12) RETURNING id`,
      [
        m.cycleId,
        m.createdAt,
        m.status,
        m.kind,
        m.objectGuid,
        m.messageId,
        JSON.stringify(m.envelope),
        m.subject,
        m.text,
        m.html,
        m.protectedGroup === true,
        m.channel ?? 'mail',
      ],
    );
    return Number(id);
  }

  async due(now: string, limit = 500, channel?: string): Promise<OutboxMessage[]> {
    const rows = await this.#sql.rows<OutboxRow>(
      `SELECT * FROM outbox WHERE status = 'pending' AND ($3::text IS NULL OR channel = $3)
         AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
         AND (claimed_until IS NULL OR claimed_until <= $1)
       ORDER BY id LIMIT $2`,
      [now, limit, channel ?? null],
    );
    return rows.map(outboxMessage);
  }

  async claim(id: number, now: string, until: string, owner: string): Promise<boolean> {
    const changed = await this.#sql.changed(
      `UPDATE outbox SET claimed_until = $1, claimed_by = $2
       WHERE id = $3 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until <= $4)`,
      [until, owner, id, now],
    );
    return changed === 1;
  }

  async releaseClaims(gone: (owner: string) => boolean): Promise<number> {
    const owners = (
      await this.#sql.rows<{ claimed_by: string | null }>(
        'SELECT DISTINCT claimed_by FROM outbox WHERE claimed_until IS NOT NULL',
      )
    )
      .map((r) => r.claimed_by)
      .filter((o): o is string => o !== null && gone(o));
    if (owners.length === 0) return 0;
    return this.#sql.changed(`UPDATE outbox SET ${RELEASED} WHERE claimed_by = ANY($1)`, [owners]);
  }

  async get(id: number): Promise<OutboxMessage | undefined> {
    const [row] = await this.#sql.rows<OutboxRow>('SELECT * FROM outbox WHERE id = $1', [id]);
    return row && outboxMessage(row);
  }

  async list(status?: OutboxStatus): Promise<OutboxMessage[]> {
    const rows = await this.#sql.rows<OutboxRow>(
      'SELECT * FROM outbox WHERE $1::text IS NULL OR status = $1 ORDER BY id',
      [status ?? null],
    );
    return rows.map(outboxMessage);
  }

  async counts(): Promise<OutboxCounts> {
    const counts: OutboxCounts = { pending: 0, held: 0, digest: 0, sent: 0, failed: 0 };
    const rows = await this.#sql.rows<{ status: OutboxStatus; n: string }>(
      'SELECT status, count(*) AS n FROM outbox GROUP BY status',
    );
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  async waitingByChannel(): Promise<Map<string, number>> {
    const rows = await this.#sql.rows<{ channel: string; n: string }>(
      "SELECT channel, count(*) AS n FROM outbox WHERE status IN ('pending', 'held') GROUP BY channel",
    );
    return new Map(rows.map((r) => [r.channel, Number(r.n)]));
  }

  async markSent(id: number, at: string, attempts: number): Promise<void> {
    await this.#sql.query(
      `UPDATE outbox SET status = 'sent', sent_at = $1, attempts = $2, next_attempt_at = NULL, last_error = NULL,
         ${RELEASED} WHERE id = $3`,
      [at, attempts, id],
    );
  }

  async markRetry(id: number, attempts: number, nextAttemptAt: string, error: string): Promise<void> {
    await this.#sql.query(
      `UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, ${RELEASED} WHERE id = $4`,
      [attempts, nextAttemptAt, error, id],
    );
  }

  async markWaiting(id: number, error: string): Promise<void> {
    await this.#sql.query(`UPDATE outbox SET last_error = $1, ${RELEASED} WHERE id = $2`, [error, id]);
  }

  async markFailed(id: number, attempts: number, error: string): Promise<void> {
    await this.#sql.query(
      `UPDATE outbox SET status = 'failed', attempts = $1, next_attempt_at = NULL, last_error = $2, ${RELEASED}
       WHERE id = $3`,
      [attempts, error, id],
    );
  }

  async retry(id: number | 'all', now: string): Promise<number> {
    return this.#sql.changed(
      `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, last_error = NULL
       WHERE status = 'failed' AND ($2::bigint IS NULL OR id = $2)`,
      [now, id === 'all' ? null : id],
    );
  }

  async holdCycle(cycleId: number): Promise<number> {
    return this.#sql.changed(
      `UPDATE outbox SET status = 'held'
       WHERE cycle_id = $1 AND status = 'pending' AND NOT protected_group AND channel NOT LIKE $2`,
      [cycleId, `${SIEM_PREFIX}%`],
    );
  }

  async markDigested(ids: readonly number[], at: string): Promise<number> {
    return this.#sql.changed(
      `UPDATE outbox SET status = 'sent', sent_at = $1, next_attempt_at = NULL
       WHERE status = 'digest' AND id = ANY($2)`,
      [at, ids],
    );
  }

  async release(now: string, cycleId?: number): Promise<number> {
    return this.#sql.changed(
      `UPDATE outbox SET status = 'pending', next_attempt_at = $1
       WHERE status = 'held' AND ($2::bigint IS NULL OR cycle_id = $2)`,
      [now, cycleId ?? null],
    );
  }

  async discard(which: number | 'held' | 'failed', now: string): Promise<number> {
    if (typeof which === 'number') {
      return this.#sql.changed(
        `DELETE FROM outbox WHERE id = $1 AND status != 'sent' AND (claimed_until IS NULL OR claimed_until <= $2)`,
        [which, now],
      );
    }
    return this.#sql.changed('DELETE FROM outbox WHERE status = $1', [which]);
  }
}

export class PgSchedules implements ScheduleStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async add(s: NewSchedule): Promise<number> {
    const id = await this.#sql.value<string>(
      `INSERT INTO schedules (kind, target_guid, target_dn, subject_guid, subject_dn, start_at, end_at, state,
                              created_at, created_by, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9, $8) RETURNING id`,
      [
        s.kind,
        s.targetGuid,
        s.targetDn,
        s.subjectGuid,
        s.subjectDn,
        s.startAt,
        s.endAt,
        s.createdAt,
        s.createdBy,
      ],
    );
    return Number(id);
  }

  async get(id: number): Promise<Schedule | undefined> {
    const [row] = await this.#sql.rows<ScheduleRow>('SELECT * FROM schedules WHERE id = $1', [id]);
    return row && scheduleOf(row);
  }

  async pending(): Promise<Schedule[]> {
    const rows = await this.#sql.rows<ScheduleRow>(
      `SELECT * FROM schedules
       WHERE state IN ('scheduled', 'active') OR (state = 'failed' AND resume_from IS NOT NULL) ORDER BY id`,
    );
    return rows.map(scheduleOf);
  }

  async list(all = false): Promise<Schedule[]> {
    const rows = await this.#sql.rows<ScheduleRow>(
      `SELECT * FROM schedules WHERE $1 OR state IN ('scheduled', 'active', 'failed') ORDER BY id`,
      [all],
    );
    return rows.map(scheduleOf);
  }

  async counts(): Promise<ScheduleCounts> {
    const rows = await this.#sql.rows<{ s: ScheduleState | 'failed-final'; n: string }>(
      `SELECT CASE WHEN state = 'failed' AND resume_from IS NULL THEN 'failed-final' ELSE state END AS s,
              count(*) AS n
       FROM schedules GROUP BY 1`,
    );
    const out = noSchedules();
    for (const r of rows) out[r.s] = Number(r.n);
    return out;
  }

  async setState(
    id: number,
    from: ScheduleState,
    state: ScheduleState,
    at: string,
    note: string | null = null,
  ): Promise<boolean> {
    const changed = await this.#sql.changed(
      `UPDATE schedules SET state = $1, resume_from = NULL, failures = 0, last_error = $2, updated_at = $3
       WHERE id = $4 AND state = $5`,
      [state, note, at, id, from],
    );
    return changed === 1;
  }

  async setWarned(id: number, from: ScheduleState, at: string): Promise<boolean> {
    const changed = await this.#sql.changed(
      `UPDATE schedules SET warned_at = $1, state = COALESCE(resume_from, state), resume_from = NULL,
         failures = 0, last_error = NULL, updated_at = $1
       WHERE id = $2 AND state = $3`,
      [at, id, from],
    );
    return changed === 1;
  }

  async recordStart(id: number, changed: boolean): Promise<void> {
    await this.#sql.query('UPDATE schedules SET start_changed = $1 WHERE id = $2', [changed, id]);
  }

  async setFailed(
    id: number,
    from: ScheduleState,
    error: string,
    resumeFrom: 'scheduled' | 'active' | null,
    at: string,
  ): Promise<boolean> {
    const changed = await this.#sql.changed(
      `UPDATE schedules SET state = 'failed', resume_from = $1, failures = failures + 1, last_error = $2,
         updated_at = $3
       WHERE id = $4 AND state = $5`,
      [resumeFrom, error, at, id, from],
    );
    return changed === 1;
  }
}
