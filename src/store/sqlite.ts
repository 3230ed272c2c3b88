/**
 * The state database: one SQLite file (WAL, mode 0600) holding the cursor and DC identity,
 * the snapshot, cycles, events and the outbox. Every write of a cycle happens inside
 * {@link SqliteStore.transaction}, so a cycle that fails part-way commits nothing.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';

import type { DirectoryEvent } from '../core/events.js';
import type { StoredMember } from '../core/snapshot.js';
import type { DirectoryIdentity, MemberRef } from '../core/types.js';
import { StateError, TemporaryError, errorMessage } from '../errors.js';
import { MIGRATIONS, REDACTION_KEY } from './migrations.js';
import { Outbox } from './outbox.js';
import { Schedules } from './schedules.js';
import type { SnapshotObject } from '../core/snapshot.js';

export interface DirectoryState {
  url: string;
  dsServiceName: string;
  invocationId: string;
  usnCursor: bigint;
  baselineAt: string;
  updatedAt: string;
}

export interface CycleRecord {
  kind: 'baseline' | 'incremental' | 'resync' | 'lifecycle';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: 'ok' | 'failed';
  objects: number;
  groups: number;
  memberships: number;
  events: number;
  error: string | null;
}

export interface SnapshotCounts {
  objects: number;
  groups: number;
  containers: number;
  memberships: number;
}

/** The last poll, whatever its outcome (an idle cycle writes nothing else). */
export interface LastRun {
  kind: CycleRecord['kind'];
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: 'ok' | 'failed';
  events: number;
  error: string | null;
}

/** An event as `adnotify history --json` prints it. */
export type HistoryEvent = { id: number; cycle: number; at: string } & DirectoryEvent;

export type OutboxCounts = Record<'pending' | 'held' | 'sent' | 'failed', number>;

export class SqliteStore {
  readonly #db: Database.Database;
  #inTransaction = false;
  /** The mail queue, in the same database (and transactions) as the snapshot and events. */
  readonly outbox: Outbox;
  /** Lifecycle schedules, in the same database. */
  readonly schedules: Schedules;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.outbox = new Outbox(db);
    this.schedules = new Schedules(db);
  }

  /** Opens (creating with mode 0600 when missing) and migrates the state file. */
  static open(path: string): SqliteStore {
    const dir = dirname(path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    let db: Database.Database | undefined;
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
      // A damaged file is refused before anything is written to it. Read on, it would fail
      // part-way through a cycle; rebuilt, it would lose the outbox and the cursor.
      const check = String(db.pragma('quick_check(1)', { simple: true }));
      if (check !== 'ok') throw new StateError(damaged(path, check));
    } catch (err: unknown) {
      db?.close();
      throw err instanceof StateError ? err : stateError(path, err);
    }
    const store = new SqliteStore(db);
    try {
      store.#migrate(path);
    } catch (err: unknown) {
      db.close();
      throw err instanceof StateError ? err : stateError(path, err);
    }
    return store;
  }

  #migrate(path: string): void {
    const current = Number(this.#db.pragma('user_version', { simple: true }));
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new StateError(
        `${path} was written by a newer adnotify (schema ${current}, this one knows ${latest}); upgrade adnotify or point state.path elsewhere.`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      this.#db.transaction(() => {
        this.#db.exec(migration.sql);
        migration.run?.(this.#db);
        this.#db.pragma(`user_version = ${migration.version}`);
      })();
    }
  }

  /**
   * Runs `work` in one write transaction (BEGIN IMMEDIATE): everything it writes commits
   * together or not at all. Async so a cycle can stream LDAP pages into it; cycles never
   * overlap, so there is one transaction at a time.
   */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inTransaction) throw new Error('transactions do not nest');
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (err: unknown) {
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new TemporaryError('the state database is locked by another adnotify process; try again', {
          cause: err,
        });
      }
      throw err;
    }
    this.#inTransaction = true;
    try {
      const result = await work();
      this.#db.exec('COMMIT');
      return result;
    } catch (err: unknown) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw err;
    } finally {
      this.#inTransaction = false;
    }
  }

  directoryState(): DirectoryState | undefined {
    const row = this.#db
      .prepare(
        'SELECT url, ds_service_name, invocation_id, usn_cursor, baseline_at, updated_at FROM directory_state WHERE id = 1',
      )
      .safeIntegers(true)
      .get() as
      | {
          url: string;
          ds_service_name: string;
          invocation_id: string;
          usn_cursor: bigint;
          baseline_at: string;
          updated_at: string;
        }
      | undefined;
    if (!row) return undefined;
    return {
      url: row.url,
      dsServiceName: row.ds_service_name,
      invocationId: row.invocation_id,
      usnCursor: row.usn_cursor,
      baselineAt: row.baseline_at,
      updatedAt: row.updated_at,
    };
  }

  setDirectoryState(identity: DirectoryIdentity, cursor: bigint, at: string, baselineAt: string): void {
    this.#db
      .prepare(
        `INSERT INTO directory_state (id, url, ds_service_name, invocation_id, usn_cursor, baseline_at, updated_at)
         VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, ds_service_name = excluded.ds_service_name,
           invocation_id = excluded.invocation_id, usn_cursor = excluded.usn_cursor,
           baseline_at = excluded.baseline_at, updated_at = excluded.updated_at`,
      )
      .run(identity.url, identity.dsServiceName, identity.invocationId, cursor, baselineAt, at);
  }

  putObject(object: SnapshotObject): void {
    this.#statement(
      'putObject',
      `INSERT INTO objects (guid, dn, class, usn_changed, attributes) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn, class = excluded.class,
         usn_changed = excluded.usn_changed, attributes = excluded.attributes`,
    ).run(object.guid, object.dn, object.class, object.usnChanged, JSON.stringify(object.attributes));
  }

  putContainer(guid: string, dn: string): void {
    this.#statement(
      'putContainer',
      'INSERT INTO containers (guid, dn) VALUES (?, ?) ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn',
    ).run(guid, dn);
  }

  /** Replaces a group's stored members; a member without a GUID is keyed by its DN. */
  replaceMemberships(groupGuid: string, members: readonly MemberRef[]): void {
    this.#statement('deleteMembers', 'DELETE FROM memberships WHERE group_guid = ?').run(groupGuid);
    const insert = this.#statement(
      'insertMember',
      'INSERT OR REPLACE INTO memberships (group_guid, member_guid, member_dn) VALUES (?, ?, ?)',
    );
    for (const member of members) insert.run(groupGuid, member.guid ?? `dn:${member.dn}`, member.dn);
  }

  setCursor(cursor: bigint, at: string): void {
    this.#statement(
      'setCursor',
      'UPDATE directory_state SET usn_cursor = ?, updated_at = ? WHERE id = 1',
    ).run(cursor, at);
  }

  getObject(guid: string): SnapshotObject | undefined {
    const row = this.#statement(
      'getObject',
      'SELECT guid, dn, class, usn_changed, attributes FROM objects WHERE guid = ?',
    )
      .safeIntegers(true)
      .get(guid) as
      { guid: string; dn: string; class: string; usn_changed: bigint; attributes: string } | undefined;
    if (!row) return undefined;
    return {
      guid: row.guid,
      dn: row.dn,
      class: row.class,
      usnChanged: row.usn_changed,
      attributes: JSON.parse(row.attributes) as SnapshotObject['attributes'],
    };
  }

  classOf(guid: string): string | null {
    const value = this.#statement('classOf', 'SELECT class FROM objects WHERE guid = ?').pluck().get(guid);
    return typeof value === 'string' ? value : null;
  }

  /** Removes an object and, when it is a group, its memberships. */
  deleteObject(guid: string): void {
    this.#statement('deleteObject', 'DELETE FROM objects WHERE guid = ?').run(guid);
    this.#statement('deleteMembers', 'DELETE FROM memberships WHERE group_guid = ?').run(guid);
  }

  /** Every GUID in the snapshot (a resync looks for the ones the directory no longer has). */
  objectGuids(): string[] {
    return this.#db.prepare('SELECT guid FROM objects').pluck().all() as string[];
  }

  /**
   * The lifecycle job changed a group's members or a DN-valued attribute itself: the snapshot
   * follows, so the next poll cycle does not report the same change again.
   */
  applyOwnChange(
    targetGuid: string,
    attribute: string,
    operation: 'add' | 'delete',
    subject: { guid: string; dn: string },
  ): void {
    const object = this.getObject(targetGuid);
    if (!object) return;
    if (attribute.toLowerCase() === 'member') {
      if (operation === 'add') {
        this.#statement(
          'insertMember',
          'INSERT OR REPLACE INTO memberships (group_guid, member_guid, member_dn) VALUES (?, ?, ?)',
        ).run(targetGuid, subject.guid, subject.dn);
      } else this.deleteMembership(targetGuid, subject.guid);
      return;
    }
    const name =
      Object.keys(object.attributes).find((k) => k.toLowerCase() === attribute.toLowerCase()) ?? attribute;
    const values = (object.attributes[name] ?? []).filter(
      (v) => !(typeof v !== 'string' && 'dn' in v && v.guid === subject.guid),
    );
    if (operation === 'add') values.push({ dn: subject.dn, guid: subject.guid });
    const attributes = Object.fromEntries(Object.entries(object.attributes).filter(([k]) => k !== name));
    if (values.length > 0) attributes[name] = values;
    this.putObject({ ...object, attributes });
  }

  /** Snapshot objects strictly beneath `dn`. */
  objectsBeneath(dn: string): SnapshotObject[] {
    const guids = this.#db
      .prepare('SELECT guid FROM objects WHERE lower(substr(dn, -length(?) - 1)) = lower(? )')
      .pluck()
      .all(dn, `,${dn}`) as string[];
    return guids.map((guid) => this.getObject(guid)).filter((o): o is SnapshotObject => o !== undefined);
  }

  members(groupGuid: string): StoredMember[] {
    const rows = this.#statement(
      'members',
      'SELECT member_guid, member_dn FROM memberships WHERE group_guid = ?',
    ).all(groupGuid) as { member_guid: string; member_dn: string }[];
    return rows.map((r) => ({
      guid: r.member_guid.startsWith('dn:') ? null : r.member_guid,
      dn: r.member_dn,
    }));
  }

  /** GUIDs of the groups the snapshot records `memberKey` (a GUID, or "dn:..." ) as a member of. */
  groupsContaining(memberKey: string): string[] {
    return this.#statement('groupsContaining', 'SELECT group_guid FROM memberships WHERE member_guid = ?')
      .pluck()
      .all(memberKey) as string[];
  }

  /** The DN the snapshot last knew for a member, from any group it is in. */
  memberDn(memberKey: string): string | undefined {
    const value = this.#statement(
      'memberDn',
      'SELECT member_dn FROM memberships WHERE member_guid = ? LIMIT 1',
    )
      .pluck()
      .get(memberKey);
    return typeof value === 'string' ? value : undefined;
  }

  deleteMembership(groupGuid: string, memberKey: string): void {
    this.#statement(
      'deleteMembership',
      'DELETE FROM memberships WHERE group_guid = ? AND member_guid = ?',
    ).run(groupGuid, memberKey);
  }

  /** A member renamed or moved: the rows that name it follow. */
  setMemberDn(memberGuid: string, dn: string): void {
    this.#statement('setMemberDn', 'UPDATE memberships SET member_dn = ? WHERE member_guid = ?').run(
      dn,
      memberGuid,
    );
  }

  containerDn(guid: string): string | undefined {
    const value = this.#statement('containerDn', 'SELECT dn FROM containers WHERE guid = ?')
      .pluck()
      .get(guid);
    return typeof value === 'string' ? value : undefined;
  }

  containerGuids(): string[] {
    return this.#db.prepare('SELECT guid FROM containers').pluck().all() as string[];
  }

  deleteContainer(guid: string): void {
    this.#statement('deleteContainer', 'DELETE FROM containers WHERE guid = ?').run(guid);
  }

  /** Forgets containers at or beneath `dn` (they left the watched scope). */
  deleteContainersWithin(dn: string): void {
    this.#db
      .prepare(
        'DELETE FROM containers WHERE lower(dn) = lower(?) OR lower(substr(dn, -length(?) - 1)) = lower(?)',
      )
      .run(dn, dn, `,${dn}`);
  }

  /**
   * A container was renamed or moved from `from` to `to`: every stored DN beneath it follows
   * (objects, containers, member DNs), silently, since nothing about those objects changed.
   * Returns how many objects moved with it.
   */
  renameSubtree(from: string, to: string): number {
    const params = { from, to, suffix: `,${from}` };
    const where = 'lower(substr(dn, -length(@from) - 1)) = lower(@suffix)';
    const set = 'substr(dn, 1, length(dn) - length(@from)) || @to';
    const objects = this.#db.prepare(`UPDATE objects SET dn = ${set} WHERE ${where}`).run(params).changes;
    this.#db.prepare(`UPDATE containers SET dn = ${set} WHERE ${where}`).run(params);
    this.#db
      .prepare(
        `UPDATE memberships SET member_dn = substr(member_dn, 1, length(member_dn) - length(@from)) || @to
         WHERE lower(substr(member_dn, -length(@from) - 1)) = lower(@suffix)`,
      )
      .run(params);
    return objects;
  }

  /** Empties the snapshot (objects, containers, memberships) before a new baseline. */
  clearSnapshot(): void {
    this.#db.exec('DELETE FROM objects; DELETE FROM containers; DELETE FROM memberships;');
  }

  /** Opens a cycle's row so its events can refer to it; {@link finishCycle} completes it. */
  beginCycle(kind: CycleRecord['kind'], startedAt: string): number {
    return this.recordCycle({
      kind,
      startedAt,
      finishedAt: startedAt,
      durationMs: 0,
      outcome: 'ok',
      objects: 0,
      groups: 0,
      memberships: 0,
      events: 0,
      error: null,
    });
  }

  finishCycle(id: number, cycle: Omit<CycleRecord, 'kind' | 'startedAt'>): void {
    this.#db
      .prepare(
        `UPDATE cycles SET finished_at = @finishedAt, duration_ms = @durationMs, outcome = @outcome,
           objects = @objects, groups = @groups, memberships = @memberships, events = @events, error = @error
         WHERE id = @id`,
      )
      .run({ ...cycle, id });
  }

  addEvent(cycleId: number, at: string, event: DirectoryEvent): number {
    const result = this.#statement(
      'addEvent',
      'INSERT INTO events (cycle_id, at, type, object_guid, payload) VALUES (?, ?, ?, ?, ?)',
    ).run(cycleId, at, event.type, event.object.guid, JSON.stringify(event));
    return Number(result.lastInsertRowid);
  }

  /** How many events of each type one cycle recorded (for the metrics and the log). */
  eventTypesOfCycle(cycleId: number): Map<string, number> {
    const rows = this.#db
      .prepare('SELECT type, COUNT(*) AS n FROM events WHERE cycle_id = ? GROUP BY type')
      .all(cycleId) as { type: string; n: number }[];
    return new Map(rows.map((r) => [r.type, r.n]));
  }

  /** Rewrites a recorded event (a cycle's fix-ups before it commits). */
  replaceEvent(id: number, event: DirectoryEvent): void {
    this.#statement('replaceEvent', 'UPDATE events SET payload = ? WHERE id = ?').run(
      JSON.stringify(event),
      id,
    );
  }

  deleteEvent(id: number): void {
    this.#statement('deleteEvent', 'DELETE FROM events WHERE id = ?').run(id);
  }

  /** The objects one cycle recorded events for, in the order of their first event, with how many. */
  objectsOfCycle(cycleId: number): { guid: string; events: number }[] {
    return this.#db
      .prepare(
        `SELECT object_guid AS guid, COUNT(*) AS events FROM events WHERE cycle_id = ?
         GROUP BY object_guid ORDER BY MIN(id)`,
      )
      .all(cycleId) as { guid: string; events: number }[];
  }

  /** The events one cycle recorded for these objects, oldest first. */
  eventsOfCycle(cycleId: number, objectGuids: readonly string[]): DirectoryEvent[] {
    if (objectGuids.length === 0) return [];
    const rows = this.#db
      .prepare(
        `SELECT payload FROM events WHERE cycle_id = ? AND object_guid IN (SELECT value FROM json_each(?))
         ORDER BY id`,
      )
      .pluck()
      .all(cycleId, JSON.stringify(objectGuids)) as string[];
    return rows.map((payload) => JSON.parse(payload) as DirectoryEvent);
  }

  /** Events recorded at or after `since` (ISO time), oldest first. */
  events(since: string): HistoryEvent[] {
    const rows = this.#db
      .prepare('SELECT id, cycle_id, at, payload FROM events WHERE at >= ? ORDER BY id')
      .all(since) as { id: number; cycle_id: number; at: string; payload: string }[];
    return rows.map((r) => ({
      id: r.id,
      cycle: r.cycle_id,
      at: r.at,
      ...(JSON.parse(r.payload) as DirectoryEvent),
    }));
  }

  setLastRun(run: LastRun): void {
    this.#db
      .prepare(
        `INSERT INTO last_run (id, kind, started_at, finished_at, duration_ms, outcome, events, error)
         VALUES (1, @kind, @startedAt, @finishedAt, @durationMs, @outcome, @events, @error)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, started_at = excluded.started_at,
           finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
           outcome = excluded.outcome, events = excluded.events, error = excluded.error`,
      )
      .run(run);
  }

  lastRun(): LastRun | undefined {
    return this.#db
      .prepare(
        `SELECT kind, started_at AS startedAt, finished_at AS finishedAt, duration_ms AS durationMs, outcome,
                events, error FROM last_run WHERE id = 1`,
      )
      .get() as LastRun | undefined;
  }

  /** Thresholds already handled (sent or passed) for this user and expiry date. */
  remindersRecorded(userGuid: string, expiresAt: string): Set<number> {
    const rows = this.#statement(
      'remindersRecorded',
      'SELECT threshold FROM password_reminders WHERE user_guid = ? AND expires_at = ?',
    )
      .pluck()
      .all(userGuid, expiresAt) as number[];
    return new Set(rows);
  }

  recordReminder(
    userGuid: string,
    expiresAt: string,
    threshold: number,
    outcome: 'sent' | 'passed',
    at: string,
  ): void {
    this.#statement(
      'recordReminder',
      `INSERT OR IGNORE INTO password_reminders (user_guid, expires_at, threshold, outcome, at) VALUES (?, ?, ?, ?, ?)`,
    ).run(userGuid, expiresAt, threshold, outcome, at);
  }

  /**
   * Removes what is older than `before` (ISO time) and no longer needed: events, sent
   * messages (their bodies are personal data) and the cycles nothing refers to any more.
   * Pending, held and failed messages stay. Freed pages are overwritten (secure_delete).
   */
  prune(before: string): { events: number; messages: number; cycles: number } {
    this.#db.pragma('secure_delete = ON');
    try {
      return this.#db.transaction(() => {
        const events = this.#db.prepare('DELETE FROM events WHERE at < ?').run(before).changes;
        const messages = this.#db
          .prepare("DELETE FROM outbox WHERE status = 'sent' AND COALESCE(sent_at, created_at) < ?")
          .run(before).changes;
        const cycles = this.#db
          .prepare(
            `DELETE FROM cycles WHERE started_at < ?
               AND NOT EXISTS (SELECT 1 FROM events WHERE events.cycle_id = cycles.id)
               AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.cycle_id = cycles.id)`,
          )
          .run(before).changes;
        return { events, messages, cycles };
      })();
    } finally {
      this.#db.pragma('secure_delete = OFF');
    }
  }

  /**
   * The key redacted values are hashed with (HMAC-SHA-256): random, made with the state (or
   * by migration 6) and kept in it, so a low-entropy secret cannot be recovered from its hash
   * by anyone who has only the hash.
   */
  redactionKey(): Uint8Array {
    return Buffer.from(this.getMeta(REDACTION_KEY) ?? '', 'hex');
  }

  getMeta(key: string): string | undefined {
    const value = this.#db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key);
    return typeof value === 'string' ? value : undefined;
  }

  setMeta(key: string, value: string): void {
    this.#db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  /**
   * A group's members changed from `before` (what the snapshot holds) to `after`: writes
   * only the difference (added, removed, renamed members), so one change to a group of
   * 10,000 costs one row, not 20,000.
   */
  updateMemberships(groupGuid: string, before: readonly StoredMember[], after: readonly MemberRef[]): void {
    const key = (m: { guid: string | null; dn: string }) => m.guid ?? `dn:${m.dn}`;
    const was = new Map(before.map((m) => [key(m), m.dn]));
    const insert = this.#statement(
      'insertMember',
      'INSERT OR REPLACE INTO memberships (group_guid, member_guid, member_dn) VALUES (?, ?, ?)',
    );
    const seen = new Set<string>();
    for (const m of after) {
      const k = key(m);
      seen.add(k);
      if (was.get(k) !== m.dn) insert.run(groupGuid, k, m.dn);
    }
    for (const k of was.keys()) if (!seen.has(k)) this.deleteMembership(groupGuid, k);
  }

  recordCycle(cycle: CycleRecord): number {
    const result = this.#db
      .prepare(
        `INSERT INTO cycles (kind, started_at, finished_at, duration_ms, outcome, objects, groups, memberships, events, error)
         VALUES (@kind, @startedAt, @finishedAt, @durationMs, @outcome, @objects, @groups, @memberships, @events, @error)`,
      )
      .run(cycle);
    return Number(result.lastInsertRowid);
  }

  counts(): SnapshotCounts {
    const one = (sql: string) =>
      Number((this.#db.prepare(sql).pluck().get() as number | bigint | undefined) ?? 0);
    return {
      objects: one('SELECT count(*) FROM objects'),
      groups: one("SELECT count(*) FROM objects WHERE class = 'group'"),
      containers: one('SELECT count(*) FROM containers'),
      memberships: one('SELECT count(*) FROM memberships'),
    };
  }

  outboxCounts(): OutboxCounts {
    const counts: OutboxCounts = { pending: 0, held: 0, sent: 0, failed: 0 };
    const rows = this.#db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all() as {
      status: keyof OutboxCounts;
      n: number;
    }[];
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  readonly #statements = new Map<string, Database.Statement>();

  #statement(name: string, sql: string): Database.Statement {
    let statement = this.#statements.get(name);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(name, statement);
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
