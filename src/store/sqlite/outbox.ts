/**
 * The outbox table: rendered messages waiting to be sent, with their delivery state.
 * Messages are written in the cycle's transaction (so a committed cycle never loses one) and
 * each delivery outcome is committed on its own as it happens (a crash can repeat the one
 * message in flight, never lose it).
 */
import type {
  NewMessage,
  OutboxCounts,
  OutboxMessage,
  OutboxStatus,
  OutboxStore,
  Synchronous,
} from '../ports.js';
import { SIEM_PREFIX } from '../../core/channels.js';
import { outboxMessage, type OutboxRow } from '../rows.js';
import type { Statements } from './database.js';

export class SqliteOutbox implements Synchronous<OutboxStore> {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  #prepare(sql: string) {
    return this.#sql.get(sql);
  }

  counts(): OutboxCounts {
    const counts: OutboxCounts = { pending: 0, held: 0, digest: 0, sent: 0, failed: 0 };
    const rows = this.#prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all() as {
      status: OutboxStatus;
      n: number;
    }[];
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  waitingByChannel(): Map<string, number> {
    const rows = this.#prepare(
      "SELECT channel, count(*) AS n FROM outbox WHERE status IN ('pending', 'held') GROUP BY channel",
    ).all() as { channel: string; n: number }[];
    return new Map(rows.map((r) => [r.channel, r.n]));
  }

  add(message: NewMessage): number {
    const result = this.#prepare(
      `INSERT INTO outbox (cycle_id, created_at, status, kind, object_guid, message_id, envelope, subject,
                             text_body, html_body, attempts, next_attempt_at, protected_group, channel)
         VALUES (@cycleId, @createdAt, @status, @kind, @objectGuid, @messageId, @envelope, @subject,
                 @text, @html, 0, @createdAt, @protectedGroup, @channel)`,
    ).run({
      ...message,
      channel: message.channel ?? 'mail',
      envelope: JSON.stringify(message.envelope),
      protectedGroup: message.protectedGroup === true ? 1 : 0,
    });
    return Number(result.lastInsertRowid);
  }

  /** Pending messages whose next attempt is due, oldest first. */
  due(now: string, limit = 500, channel?: string): OutboxMessage[] {
    const rows = (
      channel === undefined
        ? this.#prepare(
            `SELECT * FROM outbox WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
               AND (claimed_until IS NULL OR claimed_until <= ?)
               ORDER BY id LIMIT ?`,
          ).all(now, now, limit)
        : this.#prepare(
            `SELECT * FROM outbox WHERE channel = ? AND status = 'pending'
               AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
               AND (claimed_until IS NULL OR claimed_until <= ?)
               ORDER BY id LIMIT ?`,
          ).all(channel, now, now, limit)
    ) as OutboxRow[];
    return rows.map(outboxMessage);
  }

  /** One UPDATE: SQLite's write lock makes the test-and-set atomic across processes. */
  claim(id: number, now: string, until: string, owner: string): boolean {
    return (
      this.#prepare(
        `UPDATE outbox SET claimed_until = ?, claimed_by = ?
           WHERE id = ? AND status = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?)`,
      ).run(until, owner, id, now).changes === 1
    );
  }

  releaseClaims(gone: (owner: string) => boolean): number {
    const owners = (
      this.#prepare('SELECT DISTINCT claimed_by FROM outbox WHERE claimed_until IS NOT NULL').all() as {
        claimed_by: string | null;
      }[]
    )
      .map((r) => r.claimed_by)
      .filter((o): o is string => o !== null && gone(o));
    const release = this.#prepare(
      'UPDATE outbox SET claimed_until = NULL, claimed_by = NULL WHERE claimed_by = ?',
    );
    return owners.reduce((n, owner) => n + release.run(owner).changes, 0);
  }

  get(id: number): OutboxMessage | undefined {
    const row = this.#prepare('SELECT * FROM outbox WHERE id = ?').get(id) as OutboxRow | undefined;
    return row ? outboxMessage(row) : undefined;
  }

  list(status?: OutboxStatus): OutboxMessage[] {
    const rows = (
      status === undefined
        ? this.#prepare('SELECT * FROM outbox ORDER BY id').all()
        : this.#prepare('SELECT * FROM outbox WHERE status = ? ORDER BY id').all(status)
    ) as OutboxRow[];
    return rows.map(outboxMessage);
  }

  markSent(id: number, at: string, attempts: number): void {
    this.#prepare(
      "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = ?, next_attempt_at = NULL, last_error = NULL, claimed_until = NULL, claimed_by = NULL WHERE id = ?",
    ).run(at, attempts, id);
  }

  markRetry(id: number, attempts: number, nextAttemptAt: string, error: string): void {
    this.#prepare(
      'UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_until = NULL, claimed_by = NULL WHERE id = ?',
    ).run(attempts, nextAttemptAt, error, id);
  }

  /**
   * The server could not be reached: the message keeps its attempts and its place, so that an
   * outage neither uses up `maxAttempts` nor lets later mail to the same people overtake it.
   */
  markWaiting(id: number, error: string): void {
    this.#prepare(
      'UPDATE outbox SET last_error = ?, claimed_until = NULL, claimed_by = NULL WHERE id = ?',
    ).run(error, id);
  }

  markFailed(id: number, attempts: number, error: string): void {
    this.#prepare(
      "UPDATE outbox SET status = 'failed', attempts = ?, next_attempt_at = NULL, last_error = ?, claimed_until = NULL, claimed_by = NULL WHERE id = ?",
    ).run(attempts, error, id);
  }

  /** Failed messages (one, or all) go back to pending with a fresh count of attempts. */
  retry(id: number | 'all', now: string): number {
    const sql = `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL
                 WHERE status = 'failed'${id === 'all' ? '' : ' AND id = ?'}`;
    const statement = this.#prepare(sql);
    return (id === 'all' ? statement.run(now) : statement.run(now, id)).changes;
  }

  /** The flood guard: a cycle's pending messages are held, except those about protected groups. */
  holdCycle(cycleId: number): number {
    return this.#prepare(
      `UPDATE outbox SET status = 'held'
         WHERE cycle_id = ? AND status = 'pending' AND protected_group = 0 AND channel NOT LIKE '${SIEM_PREFIX}%'`,
    ).run(cycleId).changes;
  }

  markDigested(ids: readonly number[], at: string): number {
    return this.#prepare(
      `UPDATE outbox SET status = 'sent', sent_at = ?, next_attempt_at = NULL
         WHERE status = 'digest' AND id IN (SELECT value FROM json_each(?))`,
    ).run(at, JSON.stringify(ids)).changes;
  }

  /** Messages held by the flood guard (all, or one cycle's) become pending. */
  release(now: string, cycleId?: number): number {
    const sql = `UPDATE outbox SET status = 'pending', next_attempt_at = ? WHERE status = 'held'${
      cycleId === undefined ? '' : ' AND cycle_id = ?'
    }`;
    const statement = this.#prepare(sql);
    return (cycleId === undefined ? statement.run(now) : statement.run(now, cycleId)).changes;
  }

  /**
   * Drops messages on purpose, never to be sent: one not yet sent, or every held or failed
   * one. Returns how many.
   */
  discard(which: number | 'held' | 'failed', now: string): number {
    if (typeof which === 'number') {
      return this.#prepare(
        "DELETE FROM outbox WHERE id = ? AND status != 'sent' AND (claimed_until IS NULL OR claimed_until <= ?)",
      ).run(which, now).changes;
    }
    return this.#prepare('DELETE FROM outbox WHERE status = ?').run(which).changes;
  }
}
