/**
 * The PostgreSQL connection: a pool for everything outside a transaction, one client per
 * transaction (found through AsyncLocalStorage, so that the ports need not pass it), the
 * schema migrated under an advisory lock, and every failure to connect turned into an error
 * that names the host and never the password.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import pg from 'pg';
import { parse as parseUrl } from 'pg-connection-string';

import {
  StateAuthError,
  StateError,
  StateTooNewError,
  StateUnavailableError,
  errorMessage,
} from '../../errors.js';
import { PG_MIGRATIONS } from './migrations.js';
import { safeUrl } from './url.js';

export interface PgOptions {
  url: string;
  caFile?: string | null;
}

export function poolConfig(options: PgOptions): pg.PoolConfig {
  const parsed = parseUrl(options.url);
  const config = { ...parsed, max: 5, connectionTimeoutMillis: 10_000 } as unknown as pg.PoolConfig;
  if (options.caFile) {
    // TLS verified against this CA (the URL's sslmode says whether TLS is required).
    const ssl = typeof parsed.ssl === 'object' ? parsed.ssl : {};
    config.ssl = {
      ...ssl,
      ca: readFileSync(options.caFile, 'utf8'),
      rejectUnauthorized: true,
    } as pg.PoolConfig['ssl'];
  }
  // A query never waits for ever on a database that stopped answering.
  config.query_timeout = 120_000;
  return config;
}

/** A failure to reach or use the database, as an administrator should read it. */
export function pgError(url: string, err: unknown): Error {
  if (err instanceof StateError) return err;
  const code = (err as { code?: string }).code ?? '';
  let host = 'the database';
  try {
    host = new URL(url).host;
  } catch {
    // keep the generic name
  }
  const where = safeUrl(url);
  if (code === '28P01' || code === '28000') {
    return new StateAuthError(
      `PostgreSQL at ${host} refused the credentials in state.url (${where}): check the user and password`,
    );
  }
  if (code === '3D000') {
    return new StateError(`PostgreSQL at ${host} has no such database (${where}): create it first (README)`);
  }
  const connection = [
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'ETIMEDOUT',
    'ECONNRESET',
    'EHOSTUNREACH',
    '57P01',
    '57P03',
  ];
  const message = errorMessage(err).replaceAll(/postgres(ql)?:\/\/[^\s]*/g, where);
  if (connection.includes(code) || /timeout|terminated|Connection terminated/i.test(message)) {
    return new StateUnavailableError(`PostgreSQL at ${host} could not be reached: ${message}`, {
      cause: err,
    });
  }
  return new StateError(`PostgreSQL at ${host}: ${message}`, { cause: err });
}

/** One open transaction: its client, the writes held back (see {@link Sql.later}), spare ids. */
export interface Txn {
  client: pg.PoolClient;
  pending: Map<Deferred<never>, unknown[]>;
  ids: Map<string, string[]>;
}

/**
 * A write that may be held back inside a transaction and sent with others like it as one
 * statement (`flush` writes the rows in the order given). A cycle writes a snapshot row and
 * an event per changed entry: one round trip each would set the pace on a network database.
 */
export class Deferred<Row> {
  constructor(
    readonly flush: (sql: Sql, rows: Row[]) => Promise<void>,
    readonly limit = 1_000,
  ) {}
}

/** Queries through the transaction's client when inside one, else through the pool. */
export class Sql {
  readonly pool: pg.Pool;
  readonly #current: AsyncLocalStorage<Txn>;
  readonly #url: string;

  constructor(pool: pg.Pool, current: AsyncLocalStorage<Txn>, url: string) {
    this.pool = pool;
    this.#current = current;
    this.#url = url;
  }

  /**
   * Any statement in a transaction first sends the writes held back: so every statement sees
   * the state as if each write had been sent when it was made.
   */
  async query<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    if (this.#current.getStore()?.pending.size) await this.flush();
    return this.#send<R>(text, params);
  }

  /** A statement as it is, without sending the writes held back first. */
  async #send<R extends pg.QueryResultRow>(text: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await (this.#current.getStore()?.client ?? this.pool).query<R>(text, params);
    } catch (err: unknown) {
      throw pgError(this.#url, err);
    }
  }

  /**
   * Holds `row` back until the transaction's next statement, its commit, or `deferred.limit`
   * rows; outside a transaction it is written at once.
   */
  async later<Row>(deferred: Deferred<Row>, row: Row): Promise<void> {
    const txn = this.#current.getStore();
    if (txn === undefined) {
      await deferred.flush(this, [row]);
      return;
    }
    const key = deferred as unknown as Deferred<never>;
    const rows = txn.pending.get(key) ?? [];
    rows.push(row);
    txn.pending.set(key, rows);
    if (rows.length >= deferred.limit) await this.flush();
  }

  /** The rows `deferred` holds back in this transaction, oldest first. */
  pending<Row>(deferred: Deferred<Row>): readonly Row[] {
    const rows = this.#current.getStore()?.pending.get(deferred);
    return (rows ?? []) as Row[];
  }

  /** Sends every write held back in this transaction. */
  async flush(): Promise<void> {
    const txn = this.#current.getStore();
    while (txn !== undefined && txn.pending.size > 0) {
      const batches = [...txn.pending];
      txn.pending.clear();
      for (const [deferred, rows] of batches) await deferred.flush(this, rows as never[]);
    }
  }

  /**
   * The next id of `table`'s identity, taken 256 at a time inside a transaction (the spares
   * are dropped at its end, so ids keep growing across instances and transactions).
   */
  async nextId(table: string): Promise<string> {
    const txn = this.#current.getStore();
    const spare = txn?.ids.get(table) ?? [];
    if (spare.length === 0) {
      // A sequence is outside the transaction: what is held back need not go first.
      const { rows } = await this.#send<{ id: string }>(
        "SELECT nextval(pg_get_serial_sequence($1, 'id'))::text AS id FROM generate_series(1, $2)",
        [table, txn === undefined ? 1 : 256],
      );
      spare.push(...rows.map((r) => r.id));
      txn?.ids.set(table, spare);
    }
    const id = spare.shift();
    if (id === undefined) throw new Error(`no id from the sequence of ${table}`);
    return id;
  }

  async rows<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.query<R>(text, params)).rows;
  }

  /** How many rows a write changed. */
  async changed(text: string, params: unknown[] = []): Promise<number> {
    return (await this.query(text, params)).rowCount ?? 0;
  }

  /** The single value of the first row, or undefined. */
  async value<T>(text: string, params: unknown[] = []): Promise<T | undefined> {
    const row = (await this.rows<Record<string, T>>(text, params))[0];
    return row ? Object.values(row)[0] : undefined;
  }
}

/** Opens the pool, checks that it answers, and migrates (one instance at a time). */
export async function openPool(options: PgOptions): Promise<pg.Pool> {
  const pool = new pg.Pool(poolConfig(options));
  // An idle client that loses its server must not crash the process: the next query says so.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      await migrate(client, options.url);
    } finally {
      // Released before the pool ends on failure: pool.end() waits for every client.
      client.release();
    }
    return pool;
  } catch (err: unknown) {
    await pool.end().catch(() => undefined);
    throw pgError(options.url, err);
  }
}

async function migrate(client: pg.PoolClient, url: string): Promise<void> {
  await client.query('BEGIN');
  try {
    // Two instances starting at once: one migrates, the other waits and finds it done.
    await client.query('SELECT pg_advisory_xact_lock(7239485)');
    await client.query('CREATE TABLE IF NOT EXISTS adnotify_schema (version INTEGER NOT NULL)');
    const rows = (await client.query<{ version: number }>('SELECT version FROM adnotify_schema')).rows;
    const current = rows[0]?.version ?? 0;
    const latest = PG_MIGRATIONS.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new StateTooNewError(
        `${safeUrl(url)} was written by a newer adnotify (schema ${current}, this one knows ${latest}); upgrade adnotify or point state.url elsewhere.`,
      );
    }
    for (const migration of PG_MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
    }
    if (current === 0) {
      await client.query('INSERT INTO adnotify_schema (version) VALUES ($1)', [latest]);
      // The key redacted values are hashed with: random, made with the state (see SnapshotPolicy).
      await client.query("INSERT INTO meta (key, value) VALUES ('redactionKey', $1)", [
        randomBytes(32).toString('hex'),
      ]);
    } else if (current < latest) {
      await client.query('UPDATE adnotify_schema SET version = $1', [latest]);
    }
    await client.query('COMMIT');
  } catch (err: unknown) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
