/**
 * The event log, the cycle metadata, the password reminders and the audit records on
 * PostgreSQL: the same rows and meanings as on SQLite (store/sqlite/).
 */
import type { AuditRecord } from '../../core/audit.js';
import type { StoredAuditRecord } from '../../core/correlate.js';
import type { DirectoryEvent } from '../../core/events.js';
import type { DirectoryIdentity } from '../../core/types.js';
import {
  openedCycle,
  type AuditPosition,
  type AuditStore,
  type CycleKind,
  type CycleLog,
  type CycleRecord,
  type DirectoryState,
  type EventLog,
  type HistoryEvent,
  type LastRun,
  type ReminderRecord,
  type ReminderStore,
} from '../ports.js';
import { Deferred, type Sql } from './database.js';

type Recorded = { id: number; at: string; event: DirectoryEvent };
const recorded = (r: { id: string; at: string; payload: string }): Recorded => ({
  id: Number(r.id),
  at: r.at,
  event: JSON.parse(r.payload) as DirectoryEvent,
});

interface EventRow {
  id: string;
  cycleId: number;
  at: string;
  event: DirectoryEvent;
}

/** Events written as one statement, with the ids add() already returned. */
const EVENTS = new Deferred<EventRow>(async (sql, rows) => {
  await sql.query(
    `INSERT INTO events (id, cycle_id, at, type, object_guid, payload)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.cycleId),
      rows.map((r) => r.at),
      rows.map((r) => r.event.type),
      rows.map((r) => r.event.object.guid),
      rows.map((r) => JSON.stringify(r.event)),
    ],
  );
});

export class PgEventLog implements EventLog {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async add(cycleId: number, at: string, event: DirectoryEvent): Promise<number> {
    const id = await this.#sql.nextId('events');
    await this.#sql.later(EVENTS, { id, cycleId, at, event });
    return Number(id);
  }

  async replace(id: number, event: DirectoryEvent): Promise<void> {
    await this.#sql.query('UPDATE events SET payload = $1 WHERE id = $2', [JSON.stringify(event), id]);
  }

  async delete(id: number): Promise<void> {
    await this.#sql.query('DELETE FROM events WHERE id = $1', [id]);
  }

  async objectsOfCycle(cycleId: number): Promise<{ guid: string; events: number }[]> {
    const rows = await this.#sql.rows<{ guid: string; events: string }>(
      `SELECT object_guid AS guid, count(*) AS events FROM events WHERE cycle_id = $1
       GROUP BY object_guid ORDER BY min(id)`,
      [cycleId],
    );
    return rows.map((r) => ({ guid: r.guid, events: Number(r.events) }));
  }

  async ofCycle(cycleId: number, objectGuids: readonly string[]): Promise<DirectoryEvent[]> {
    return (await this.recordedOfCycle(cycleId, objectGuids)).map((r) => r.event);
  }

  async recordedOfCycle(cycleId: number, objectGuids: readonly string[]): Promise<Recorded[]> {
    if (objectGuids.length === 0) return [];
    const rows = await this.#sql.rows<{ id: string; at: string; payload: string }>(
      'SELECT id, at, payload FROM events WHERE cycle_id = $1 AND object_guid = ANY($2) ORDER BY id',
      [cycleId, objectGuids],
    );
    return rows.map(recorded);
  }

  async pageOfCycle(cycleId: number, afterId: number, limit: number): Promise<Recorded[]> {
    const rows = await this.#sql.rows<{ id: string; at: string; payload: string }>(
      'SELECT id, at, payload FROM events WHERE cycle_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [cycleId, afterId, limit],
    );
    return rows.map(recorded);
  }

  async typesOfCycle(cycleId: number): Promise<Map<string, number>> {
    const rows = await this.#sql.rows<{ type: string; n: string }>(
      'SELECT type, count(*) AS n FROM events WHERE cycle_id = $1 GROUP BY type',
      [cycleId],
    );
    return new Map(rows.map((r) => [r.type, Number(r.n)]));
  }

  async since(since: string): Promise<HistoryEvent[]> {
    const rows = await this.#sql.rows<{ id: string; cycle_id: string; at: string; payload: string }>(
      'SELECT id, cycle_id, at, payload FROM events WHERE at >= $1 ORDER BY id',
      [since],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      cycle: Number(r.cycle_id),
      at: r.at,
      ...(JSON.parse(r.payload) as DirectoryEvent),
    }));
  }
}

export class PgCycleLog implements CycleLog {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async directoryState(): Promise<DirectoryState | undefined> {
    const [row] = await this.#sql.rows<{
      url: string;
      ds_service_name: string;
      invocation_id: string;
      usn_cursor: string;
      baseline_at: string;
      updated_at: string;
    }>('SELECT * FROM directory_state WHERE id = 1');
    if (!row) return undefined;
    return {
      url: row.url,
      dsServiceName: row.ds_service_name,
      invocationId: row.invocation_id,
      usnCursor: BigInt(row.usn_cursor),
      baselineAt: row.baseline_at,
      updatedAt: row.updated_at,
    };
  }

  async setDirectoryState(
    identity: DirectoryIdentity,
    cursor: bigint,
    at: string,
    baselineAt: string,
  ): Promise<void> {
    await this.#sql.query(
      `INSERT INTO directory_state (id, url, ds_service_name, invocation_id, usn_cursor, baseline_at, updated_at)
       VALUES (1, $1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, ds_service_name = excluded.ds_service_name,
         invocation_id = excluded.invocation_id, usn_cursor = excluded.usn_cursor,
         baseline_at = excluded.baseline_at, updated_at = excluded.updated_at`,
      [identity.url, identity.dsServiceName, identity.invocationId, cursor.toString(), baselineAt, at],
    );
  }

  async setCursor(cursor: bigint, at: string): Promise<void> {
    await this.#sql.query('UPDATE directory_state SET usn_cursor = $1, updated_at = $2 WHERE id = 1', [
      cursor.toString(),
      at,
    ]);
  }

  async begin(kind: CycleKind, startedAt: string): Promise<number> {
    const c = openedCycle(kind, startedAt);
    const id = await this.#sql.value<string>(
      `INSERT INTO cycles (kind, started_at, finished_at, duration_ms, outcome, objects, groups, memberships, events, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
      [
        c.kind,
        c.startedAt,
        c.finishedAt,
        c.durationMs,
        c.outcome,
        c.objects,
        c.groups,
        c.memberships,
        c.events,
        c.error,
      ],
    );
    return Number(id);
  }

  async finish(id: number, c: Omit<CycleRecord, 'kind' | 'startedAt'>): Promise<void> {
    await this.#sql.query(
      `UPDATE cycles SET finished_at = $1, duration_ms = $2, outcome = $3, objects = $4, groups = $5,
         memberships = $6, events = $7, error = $8 WHERE id = $9`,
      [c.finishedAt, c.durationMs, c.outcome, c.objects, c.groups, c.memberships, c.events, c.error, id],
    );
  }

  async setLastRun(r: LastRun): Promise<void> {
    await this.#sql.query(
      `INSERT INTO last_run (id, kind, started_at, finished_at, duration_ms, outcome, events, error)
       VALUES (1, $1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, started_at = excluded.started_at,
         finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
         outcome = excluded.outcome, events = excluded.events, error = excluded.error`,
      [r.kind, r.startedAt, r.finishedAt, r.durationMs, r.outcome, r.events, r.error],
    );
  }

  async lastRun(): Promise<LastRun | undefined> {
    const [row] = await this.#sql.rows<{
      kind: CycleKind;
      started_at: string;
      finished_at: string;
      duration_ms: string;
      outcome: 'ok' | 'failed';
      events: string;
      error: string | null;
    }>('SELECT * FROM last_run WHERE id = 1');
    if (!row) return undefined;
    return {
      kind: row.kind,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      durationMs: Number(row.duration_ms),
      outcome: row.outcome,
      events: Number(row.events),
      error: row.error,
    };
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.#sql.value<string>('SELECT value FROM meta WHERE key = $1', [key]);
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.#sql.query(
      'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  async redactionKey(): Promise<Uint8Array> {
    return Buffer.from((await this.getMeta('redactionKey')) ?? '', 'hex');
  }
}

export class PgReminders implements ReminderStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async recorded(userGuid: string, expiresAt: string): Promise<Set<number>> {
    const rows = await this.#sql.rows<{ threshold: number }>(
      'SELECT threshold FROM password_reminders WHERE user_guid = $1 AND expires_at = $2',
      [userGuid, expiresAt],
    );
    return new Set(rows.map((r) => r.threshold));
  }

  async record(r: ReminderRecord): Promise<void> {
    await this.#sql.query(
      `INSERT INTO password_reminders (user_guid, expires_at, threshold, outcome, at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING`,
      [r.userGuid, r.expiresAt, r.threshold, r.outcome, r.at],
    );
  }
}

export class PgAudit implements AuditStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async positions(): Promise<AuditPosition[]> {
    const rows = await this.#sql.rows<{ file: string; path: string; offset: string; head: string }>(
      'SELECT file, path, "offset", head FROM audit_positions ORDER BY file',
    );
    return rows.map((r) => ({ ...r, offset: Number(r.offset) }));
  }

  async setPositions(positions: readonly AuditPosition[]): Promise<void> {
    await this.#sql.query('DELETE FROM audit_positions');
    for (const p of positions) {
      await this.#sql.query(
        'INSERT INTO audit_positions (file, path, "offset", head) VALUES ($1, $2, $3, $4)',
        [p.file, p.path, p.offset, p.head],
      );
    }
  }

  async add(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#sql.query(
      'INSERT INTO audit_records (at, record) SELECT * FROM unnest($1::text[], $2::text[])',
      [records.map((r) => r.at), records.map((r) => JSON.stringify(r))],
    );
  }

  async unused(since: string): Promise<StoredAuditRecord[]> {
    const rows = await this.#sql.rows<{ id: string; record: string }>(
      'SELECT id, record FROM audit_records WHERE NOT used AND at >= $1 ORDER BY at, id',
      [since],
    );
    return rows.map((r) => ({ ...(JSON.parse(r.record) as AuditRecord), id: Number(r.id) }));
  }

  async markUsed(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#sql.query('UPDATE audit_records SET used = true WHERE id = ANY($1)', [ids]);
  }

  async prune(before: string): Promise<number> {
    return this.#sql.changed('DELETE FROM audit_records WHERE at < $1', [before]);
  }
}
