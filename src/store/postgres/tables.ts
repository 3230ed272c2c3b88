/** The state's tables as rows (migrate-state), on PostgreSQL: BIGINTs as BigInt, flags as booleans. */
import type { StateRow, StateTable, StateTables } from '../ports.js';
import type { Sql } from './database.js';

/** Each table's primary key, for a stable order when reading in batches. */
const KEYS: Record<StateTable, string> = {
  meta: 'key',
  directory_state: 'id',
  objects: 'guid',
  containers: 'guid',
  memberships: 'group_guid, member_guid',
  cycles: 'id',
  last_run: 'id',
  events: 'id',
  outbox: 'id',
  password_reminders: 'user_guid, expires_at, threshold',
  schedules: 'id',
  audit_records: 'id',
  audit_positions: 'file',
};

/** The tables whose ids come from an identity: set past the copied ids so new rows follow them. */
const IDENTITIES: readonly StateTable[] = ['cycles', 'events', 'outbox', 'schedules', 'audit_records'];

const CONTENT: readonly StateTable[] = ['directory_state', 'objects', 'cycles', 'outbox', 'schedules'];

export class PgTables implements StateTables {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async isEmpty(): Promise<boolean> {
    for (const table of CONTENT) {
      if ((await this.#sql.rows(`SELECT 1 FROM ${table} LIMIT 1`)).length > 0) return false;
    }
    return true;
  }

  async *read(table: StateTable, batch: number): AsyncIterable<StateRow[]> {
    for (let offset = 0; ; offset += batch) {
      const rows = await this.#sql.rows<StateRow>(
        `SELECT * FROM ${table} ORDER BY ${KEYS[table]} LIMIT $1 OFFSET $2`,
        [batch, offset],
      );
      if (rows.length > 0) yield rows;
      if (rows.length < batch) return;
    }
  }

  async write(table: StateTable, rows: StateRow[]): Promise<void> {
    if (rows.length === 0) return;
    // One statement per batch: the rows go as JSON and the table's own types convert them.
    const json = JSON.stringify(rows.map(pgRow), (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    const columns = Object.keys(rows[0] ?? {})
      .map((c) => `"${c}"`)
      .join(', ');
    const upsert = table === 'meta' ? ' ON CONFLICT (key) DO UPDATE SET value = excluded.value' : '';
    await this.#sql.query(
      `INSERT INTO ${table} (${columns}) OVERRIDING SYSTEM VALUE
       SELECT ${columns} FROM json_populate_recordset(NULL::${table}, $1::json)${upsert}`,
      [json],
    );
    if (IDENTITIES.includes(table)) {
      await this.#sql.query(
        `SELECT setval(pg_get_serial_sequence('${table}', 'id'), GREATEST((SELECT max(id) FROM ${table}), 1))`,
      );
    }
  }
}

/** SQLite's 0/1 flags for PostgreSQL's booleans. */
const FLAGS = new Set(['start_changed', 'used', 'protected_group']);

function pgRow(row: StateRow): StateRow {
  const out: StateRow = { ...row };
  for (const flag of FLAGS) {
    const v = out[flag];
    if (typeof v === 'number' || typeof v === 'bigint') out[flag] = Number(v) !== 0;
  }
  return out;
}
