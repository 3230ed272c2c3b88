/** Password reminders on SQLite: one row per user, expiry date and threshold handled. */
import type { ReminderRecord, ReminderStore, Synchronous } from '../ports.js';
import type { Statements } from './database.js';

export class SqliteReminders implements Synchronous<ReminderStore> {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  recorded(userGuid: string, expiresAt: string): Set<number> {
    const rows = this.#sql
      .get('SELECT threshold FROM password_reminders WHERE user_guid = ? AND expires_at = ?')
      .pluck()
      .all(userGuid, expiresAt) as number[];
    return new Set(rows);
  }

  record(r: ReminderRecord): void {
    this.#sql
      .get(
        'INSERT OR IGNORE INTO password_reminders (user_guid, expires_at, threshold, outcome, at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(r.userGuid, r.expiresAt, r.threshold, r.outcome, r.at);
  }
}
