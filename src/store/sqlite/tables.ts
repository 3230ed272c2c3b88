/** The state's tables as rows (migrate-state), on SQLite: integers read as BigInt, flags as 0/1. */
import type { StateRow, StateTable, StateTables } from '../ports.js';
import type { Db } from './database.js';

/** What makes a state non-empty: anything a cycle, a job or a command wrote. */
const CONTENT: readonly StateTable[] = ['directory_state', 'objects', 'cycles', 'outbox', 'schedules'];

export class SqliteTables implements StateTables {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  isEmpty(): Promise<boolean> {
    const used = CONTENT.some((t) => this.#db.prepare(`SELECT 1 FROM ${t} LIMIT 1`).get() !== undefined);
    return Promise.resolve(!used);
  }

  async *read(table: StateTable, batch: number): AsyncIterable<StateRow[]> {
    // Read in full before yielding: the connection stays free for anything awaited meanwhile.
    const rows = this.#db.prepare(`SELECT * FROM ${table} ORDER BY 1`).safeIntegers(true).all() as StateRow[];
    for (let i = 0; i < rows.length; i += batch) {
      yield rows.slice(i, i + batch).map(small);
      await Promise.resolve();
    }
  }

  write(table: StateTable, rows: StateRow[]): Promise<void> {
    const first = rows[0];
    if (first === undefined) return Promise.resolve();
    const columns = Object.keys(first);
    const insert = this.#db.prepare(
      `INSERT ${table === 'meta' ? 'OR REPLACE ' : ''}INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')})
       VALUES (${columns.map(() => '?').join(', ')})`,
    );
    for (const row of rows) {
      insert.run(columns.map((c) => sqliteValue(row[c] ?? null)));
    }
    return Promise.resolve();
  }
}

/** Integers that fit a number as numbers: only USNs and offsets may need a BigInt. */
function small(row: StateRow): StateRow {
  const out: StateRow = {};
  for (const [k, v] of Object.entries(row)) {
    out[k] =
      typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v;
  }
  return out;
}

function sqliteValue(v: StateRow[string]): string | number | bigint | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}
