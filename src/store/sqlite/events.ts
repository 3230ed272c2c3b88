/** The event log on SQLite: one row per event, the event itself as JSON. */
import type { DirectoryEvent } from '../../core/events.js';
import type { EventLog, HistoryEvent, Synchronous } from '../ports.js';
import type { Statements } from './database.js';

export class SqliteEventLog implements Synchronous<EventLog> {
  readonly #sql: Statements;

  constructor(statements: Statements) {
    this.#sql = statements;
  }

  add(cycleId: number, at: string, event: DirectoryEvent): number {
    const result = this.#sql
      .get('INSERT INTO events (cycle_id, at, type, object_guid, payload) VALUES (?, ?, ?, ?, ?)')
      .run(cycleId, at, event.type, event.object.guid, JSON.stringify(event));
    return Number(result.lastInsertRowid);
  }

  replace(id: number, event: DirectoryEvent): void {
    this.#sql.get('UPDATE events SET payload = ? WHERE id = ?').run(JSON.stringify(event), id);
  }

  delete(id: number): void {
    this.#sql.get('DELETE FROM events WHERE id = ?').run(id);
  }

  objectsOfCycle(cycleId: number): { guid: string; events: number }[] {
    return this.#sql
      .get(
        `SELECT object_guid AS guid, COUNT(*) AS events FROM events WHERE cycle_id = ?
         GROUP BY object_guid ORDER BY MIN(id)`,
      )
      .all(cycleId) as { guid: string; events: number }[];
  }

  ofCycle(cycleId: number, objectGuids: readonly string[]): DirectoryEvent[] {
    if (objectGuids.length === 0) return [];
    const rows = this.#sql
      .get(
        `SELECT payload FROM events WHERE cycle_id = ? AND object_guid IN (SELECT value FROM json_each(?))
         ORDER BY id`,
      )
      .pluck()
      .all(cycleId, JSON.stringify(objectGuids)) as string[];
    return rows.map((payload) => JSON.parse(payload) as DirectoryEvent);
  }

  recordedOfCycle(
    cycleId: number,
    objectGuids: readonly string[],
  ): { id: number; at: string; event: DirectoryEvent }[] {
    if (objectGuids.length === 0) return [];
    const rows = this.#sql
      .get(
        `SELECT id, at, payload FROM events WHERE cycle_id = ? AND object_guid IN (SELECT value FROM json_each(?))
         ORDER BY id`,
      )
      .all(cycleId, JSON.stringify(objectGuids)) as { id: number; at: string; payload: string }[];
    return rows.map((r) => ({ id: r.id, at: r.at, event: JSON.parse(r.payload) as DirectoryEvent }));
  }

  pageOfCycle(
    cycleId: number,
    afterId: number,
    limit: number,
  ): { id: number; at: string; event: DirectoryEvent }[] {
    const rows = this.#sql
      .get('SELECT id, at, payload FROM events WHERE cycle_id = ? AND id > ? ORDER BY id LIMIT ?')
      .all(cycleId, afterId, limit) as { id: number; at: string; payload: string }[];
    return rows.map((r) => ({ id: r.id, at: r.at, event: JSON.parse(r.payload) as DirectoryEvent }));
  }

  typesOfCycle(cycleId: number): Map<string, number> {
    const rows = this.#sql
      .get('SELECT type, COUNT(*) AS n FROM events WHERE cycle_id = ? GROUP BY type')
      .all(cycleId) as { type: string; n: number }[];
    return new Map(rows.map((r) => [r.type, r.n]));
  }

  since(since: string): HistoryEvent[] {
    const rows = this.#sql
      .get('SELECT id, cycle_id, at, payload FROM events WHERE at >= ? ORDER BY id')
      .all(since) as { id: number; cycle_id: number; at: string; payload: string }[];
    return rows.map((r) => ({
      id: r.id,
      cycle: r.cycle_id,
      at: r.at,
      ...(JSON.parse(r.payload) as DirectoryEvent),
    }));
  }
}
