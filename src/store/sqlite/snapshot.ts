/**
 * The snapshot on SQLite: objects (attributes as JSON), memberships keyed by member GUID (or
 * "dn:<dn>" for a member without one), and the containers above the watched objects.
 */
import type { SnapshotObject, StoredMember } from '../../core/snapshot.js';
import type { MemberRef } from '../../core/types.js';
import type { SnapshotCounts, SnapshotStore, Synchronous } from '../ports.js';
import { Statements, type Db } from './database.js';

const INSERT_MEMBER =
  'INSERT OR REPLACE INTO memberships (group_guid, member_guid, member_dn) VALUES (?, ?, ?)';
/** `dn` is strictly beneath @from (compared case-insensitively, as AD compares DNs). */
const BENEATH = 'lower(substr(dn, -length(@from) - 1)) = lower(@suffix)';

const memberKey = (m: { guid: string | null; dn: string }) => m.guid ?? `dn:${m.dn}`;

export class SqliteSnapshot implements Synchronous<SnapshotStore> {
  readonly #db: Db;
  readonly #sql: Statements;

  constructor(db: Db, statements: Statements) {
    this.#db = db;
    this.#sql = statements;
  }

  putObject(object: SnapshotObject): void {
    const attributes = JSON.stringify(object.attributes);
    // Most writes change an object that kept its DN: the upsert leaves dn out of its SET, which
    // spares the DN index a delete and an insert (SQLite rewrites an index whose column is set,
    // even to the same value), a page of it written per object in an incremental cycle. A new
    // object is inserted by the same statement; only a changed DN needs a second.
    const written = this.#sql
      .get(
        `INSERT INTO objects (guid, dn, class, usn_changed, attributes) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (guid) DO UPDATE SET class = excluded.class, usn_changed = excluded.usn_changed,
           attributes = excluded.attributes
         WHERE dn = excluded.dn`,
      )
      .run(object.guid, object.dn, object.class, object.usnChanged, attributes).changes;
    if (written > 0) return;
    this.#sql
      .get('UPDATE objects SET dn = ?, class = ?, usn_changed = ?, attributes = ? WHERE guid = ?')
      .run(object.dn, object.class, object.usnChanged, attributes, object.guid);
  }

  getObject(guid: string): SnapshotObject | undefined {
    const row = this.#sql
      .get('SELECT guid, dn, class, usn_changed, attributes FROM objects WHERE guid = ?')
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

  getObjects(guids: readonly string[]): Map<string, SnapshotObject> {
    const found = new Map<string, SnapshotObject>();
    for (const guid of guids) {
      const object = this.getObject(guid);
      if (object) found.set(guid, object);
    }
    return found;
  }

  classesOf(guids: readonly string[]): Map<string, string> {
    const found = new Map<string, string>();
    for (const guid of guids) {
      const cls = this.classOf(guid);
      if (cls !== null) found.set(guid, cls);
    }
    return found;
  }

  classOf(guid: string): string | null {
    const value = this.#sql.get('SELECT class FROM objects WHERE guid = ?').pluck().get(guid);
    return typeof value === 'string' ? value : null;
  }

  deleteObject(guid: string): void {
    this.#sql.get('DELETE FROM objects WHERE guid = ?').run(guid);
    this.#sql.get('DELETE FROM memberships WHERE group_guid = ?').run(guid);
  }

  objectGuids(): string[] {
    return this.#sql.get('SELECT guid FROM objects').pluck().all() as string[];
  }

  objectsBeneath(dn: string): SnapshotObject[] {
    const guids = this.#sql
      .get(`SELECT guid FROM objects WHERE ${BENEATH}`)
      .pluck()
      .all({ from: dn, suffix: `,${dn}` }) as string[];
    return guids.map((guid) => this.getObject(guid)).filter((o): o is SnapshotObject => o !== undefined);
  }

  membersOf(groupGuids: readonly string[]): Map<string, StoredMember[]> {
    return new Map(groupGuids.map((guid) => [guid, this.members(guid)]));
  }

  members(groupGuid: string): StoredMember[] {
    const rows = this.#sql
      .get('SELECT member_guid, member_dn FROM memberships WHERE group_guid = ?')
      .all(groupGuid) as { member_guid: string; member_dn: string }[];
    return rows.map((r) => ({
      guid: r.member_guid.startsWith('dn:') ? null : r.member_guid,
      dn: r.member_dn,
    }));
  }

  replaceMemberships(groupGuid: string, members: readonly MemberRef[]): void {
    this.#sql.get('DELETE FROM memberships WHERE group_guid = ?').run(groupGuid);
    const insert = this.#sql.get(INSERT_MEMBER);
    for (const member of members) insert.run(groupGuid, memberKey(member), member.dn);
  }

  /** Writes only the difference, so one change to a group of 10,000 costs one row, not 20,000. */
  updateMemberships(groupGuid: string, before: readonly StoredMember[], after: readonly MemberRef[]): void {
    const was = new Map(before.map((m) => [memberKey(m), m.dn]));
    const insert = this.#sql.get(INSERT_MEMBER);
    const seen = new Set<string>();
    for (const m of after) {
      const k = memberKey(m);
      seen.add(k);
      if (was.get(k) !== m.dn) insert.run(groupGuid, k, m.dn);
    }
    for (const k of was.keys()) if (!seen.has(k)) this.deleteMembership(groupGuid, k);
  }

  groupsContaining(memberKey: string): string[] {
    return this.#sql
      .get('SELECT group_guid FROM memberships WHERE member_guid = ?')
      .pluck()
      .all(memberKey) as string[];
  }

  memberDn(memberKey: string): string | undefined {
    const value = this.#sql
      .get('SELECT member_dn FROM memberships WHERE member_guid = ? LIMIT 1')
      .pluck()
      .get(memberKey);
    return typeof value === 'string' ? value : undefined;
  }

  deleteMembership(groupGuid: string, memberKey: string): void {
    this.#sql
      .get('DELETE FROM memberships WHERE group_guid = ? AND member_guid = ?')
      .run(groupGuid, memberKey);
  }

  setMemberDn(memberGuid: string, dn: string): void {
    this.#sql.get('UPDATE memberships SET member_dn = ? WHERE member_guid = ?').run(dn, memberGuid);
  }

  putContainer(guid: string, dn: string): void {
    this.#sql
      .get(
        'INSERT INTO containers (guid, dn) VALUES (?, ?) ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn',
      )
      .run(guid, dn);
  }

  containerDn(guid: string): string | undefined {
    const value = this.#sql.get('SELECT dn FROM containers WHERE guid = ?').pluck().get(guid);
    return typeof value === 'string' ? value : undefined;
  }

  containerGuids(): string[] {
    return this.#sql.get('SELECT guid FROM containers').pluck().all() as string[];
  }

  deleteContainer(guid: string): void {
    this.#sql.get('DELETE FROM containers WHERE guid = ?').run(guid);
  }

  deleteContainersWithin(dn: string): void {
    this.#sql
      .get(`DELETE FROM containers WHERE lower(dn) = lower(@from) OR ${BENEATH}`)
      .run({ from: dn, suffix: `,${dn}` });
  }

  renameSubtree(from: string, to: string): number {
    const params = { from, to, suffix: `,${from}` };
    const set = 'substr(dn, 1, length(dn) - length(@from)) || @to';
    const objects = this.#db.prepare(`UPDATE objects SET dn = ${set} WHERE ${BENEATH}`).run(params).changes;
    this.#db.prepare(`UPDATE containers SET dn = ${set} WHERE ${BENEATH}`).run(params);
    this.#db
      .prepare(
        `UPDATE memberships SET member_dn = substr(member_dn, 1, length(member_dn) - length(@from)) || @to
         WHERE lower(substr(member_dn, -length(@from) - 1)) = lower(@suffix)`,
      )
      .run(params);
    return objects;
  }

  clear(): void {
    this.#db.exec('DELETE FROM objects; DELETE FROM containers; DELETE FROM memberships;');
  }

  counts(): SnapshotCounts {
    const one = (sql: string) =>
      Number((this.#sql.get(sql).pluck().get() as number | bigint | undefined) ?? 0);
    return {
      objects: one('SELECT count(*) FROM objects'),
      groups: one("SELECT count(*) FROM objects WHERE class = 'group'"),
      containers: one('SELECT count(*) FROM containers'),
      memberships: one('SELECT count(*) FROM memberships'),
    };
  }
}
