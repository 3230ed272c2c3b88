/**
 * The state file: opened with mode 0600, checked, migrated; and a cache of prepared
 * statements, since a cycle or a delivery round runs the same few thousands of times.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

import { StateError, errorMessage } from '../../errors.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

/** Opens (creating with mode 0600 when missing), checks and migrates the state file. */
export function openDatabase(path: string): Db {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  let db: Db | undefined;
  try {
    db = new Database(path, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    // NORMAL: in WAL mode a commit survives a crash of adnotify; only a power loss can undo
    // the last commits, and nothing is lost then either: a cycle's events, messages and
    // cursor commit together, so the next cycle re-reads the same window, and a message
    // whose "sent" was undone is sent again (at-least-once). FULL would fsync every
    // delivery outcome and slow mail to the disk's pace.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // A 4 MB page cache rather than better-sqlite3's 16 MB: a baseline writes the whole
    // snapshot in one transaction and would fill any cache with pages it never reads again,
    // 12 MB more resident memory; reads that miss come from the OS's file cache.
    // (Measured with `npm run bench` at 20,000 users: 12 MB less peak RSS, the same time.)
    db.pragma('cache_size = -4000');
    // A damaged file is refused before anything is written to it. Read on, it would fail
    // part-way through a cycle; rebuilt, it would lose the outbox and the cursor.
    const check = String(db.pragma('quick_check(1)', { simple: true }));
    if (check !== 'ok') throw new StateError(damaged(path, check));
    migrate(db, path);
    return db;
  } catch (err: unknown) {
    db?.close();
    throw err instanceof StateError ? err : stateError(path, err);
  }
}

function migrate(db: Db, path: string): void {
  const current = Number(db.pragma('user_version', { simple: true }));
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new StateError(
      `${path} was written by a newer adnotify (schema ${current}, this one knows ${latest}); upgrade adnotify or point state.path elsewhere.`,
    );
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      migration.run?.(db);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}

/** Prepared statements by their SQL, prepared on first use. */
export class Statements {
  readonly #db: Db;
  readonly #cache = new Map<string, Database.Statement>();

  constructor(db: Db) {
    this.#db = db;
  }

  get(sql: string): Database.Statement {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}

/** What to do about a damaged state file (README, "When the state database is damaged"). */
function damaged(path: string, detail: string): string {
  return (
    `${path} is damaged or not a usable adnotify state database (${detail}). ` +
    `Move it aside (with its -wal and -shm files) and run "adnotify once" to take a new baseline: ` +
    `it sends nothing, so changes since the last good cycle go unnotified and the old outbox unsent ` +
    `(README, "When the state database is damaged").`
  );
}

function stateError(path: string, err: unknown): StateError {
  const code = (err as { code?: string }).code;
  if (code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT') === true) {
    return new StateError(damaged(path, `${code}: ${errorMessage(err)}`), { cause: err });
  }
  return new StateError(`cannot open the state database ${path}: ${errorMessage(err)}`, { cause: err });
}
