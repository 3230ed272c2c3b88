/** Audit records and audit-file positions on SQLite (migrations 8 and 12). */
import type { AuditRecord } from '../../core/audit.js';
import type { StoredAuditRecord } from '../../core/correlate.js';
import type { AuditPosition, AuditStore, Synchronous } from '../ports.js';
import type { Statements } from './database.js';

export class SqliteAudit implements Synchronous<AuditStore> {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  positions(): AuditPosition[] {
    return this.#sql
      .get('SELECT file, path, offset, head FROM audit_positions ORDER BY file')
      .all() as AuditPosition[];
  }

  setPositions(positions: readonly AuditPosition[]): void {
    this.#sql.get('DELETE FROM audit_positions').run();
    const insert = this.#sql.get(
      'INSERT INTO audit_positions (file, path, offset, head) VALUES (?, ?, ?, ?)',
    );
    for (const p of positions) insert.run(p.file, p.path, p.offset, p.head);
  }

  add(records: readonly AuditRecord[]): void {
    const insert = this.#sql.get('INSERT INTO audit_records (at, record) VALUES (?, ?)');
    for (const r of records) insert.run(r.at, JSON.stringify(r));
  }

  unused(since: string): StoredAuditRecord[] {
    const rows = this.#sql
      .get('SELECT id, record FROM audit_records WHERE used = 0 AND at >= ? ORDER BY at, id')
      .all(since) as { id: number; record: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.record) as AuditRecord), id: r.id }));
  }

  markUsed(ids: readonly number[]): void {
    const update = this.#sql.get('UPDATE audit_records SET used = 1 WHERE id = ?');
    for (const id of ids) update.run(id);
  }

  prune(before: string): number {
    return this.#sql.get('DELETE FROM audit_records WHERE at < ?').run(before).changes;
  }
}
