/** The snapshot on PostgreSQL: the same rows as on SQLite (store/sqlite/snapshot.ts). */
import type { SnapshotObject, StoredMember } from '../../core/snapshot.js';
import type { MemberRef } from '../../core/types.js';
import type { SnapshotCounts, SnapshotStore } from '../ports.js';
import { Deferred, type Sql } from './database.js';

/** `dn` ($1 the DN) is strictly beneath the DN whose ",DN" suffix is $2, compared as AD does. */
const beneath = (column: string) => `lower(right(${column}, length($1) + 1)) = lower($2)`;
const memberKey = (m: { guid: string | null; dn: string }) => m.guid ?? `dn:${m.dn}`;

interface ObjectRow {
  guid: string;
  dn: string;
  class: string;
  usn_changed: string;
  attributes: string;
}

const fromRow = (r: ObjectRow): SnapshotObject => ({
  guid: r.guid,
  dn: r.dn,
  class: r.class,
  usnChanged: BigInt(r.usn_changed),
  attributes: JSON.parse(r.attributes) as SnapshotObject['attributes'],
});

/** Snapshot rows written as one statement (the last row of an object wins, as one at a time). */
const OBJECTS = new Deferred<SnapshotObject>(async (sql, rows) => {
  const last = [...new Map(rows.map((o) => [o.guid, o])).values()];
  await sql.query(
    `INSERT INTO objects (guid, dn, class, usn_changed, attributes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
     ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn, class = excluded.class,
       usn_changed = excluded.usn_changed, attributes = excluded.attributes`,
    [
      last.map((o) => o.guid),
      last.map((o) => o.dn),
      last.map((o) => o.class),
      last.map((o) => o.usnChanged.toString()),
      last.map((o) => JSON.stringify(o.attributes)),
    ],
  );
});

/**
 * A membership write: a member (key and dn), the removal of one (dn null), or of all of a
 * group's (key and dn null). Sent as at most three statements: whole groups cleared, members
 * removed, members written (the last write of a member wins, as one at a time).
 */
interface MembershipWrite {
  group: string;
  key: string | null;
  dn: string | null;
}

const MEMBERSHIPS = new Deferred<MembershipWrite>(async (sql, writes) => {
  const cleared = writes.filter((w) => w.key === null).map((w) => w.group);
  const removed = writes.filter((w) => w.key !== null && w.dn === null);
  const written = [
    ...new Map(
      writes.filter((w) => w.dn !== null).map((w) => [`${w.group}\u0000${w.key ?? ''}`, w] as const),
    ).values(),
  ];
  if (cleared.length > 0) await sql.query('DELETE FROM memberships WHERE group_guid = ANY($1)', [cleared]);
  if (removed.length > 0) {
    await sql.query(
      `DELETE FROM memberships m USING unnest($1::text[], $2::text[]) AS d (g, k)
       WHERE m.group_guid = d.g AND m.member_guid = d.k`,
      [removed.map((w) => w.group), removed.map((w) => w.key)],
    );
  }
  if (written.length > 0) {
    await sql.query(
      `INSERT INTO memberships (group_guid, member_guid, member_dn)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT (group_guid, member_guid) DO UPDATE SET member_dn = excluded.member_dn`,
      [written.map((w) => w.group), written.map((w) => w.key), written.map((w) => w.dn)],
    );
  }
});

export class PgSnapshot implements SnapshotStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async getObject(guid: string): Promise<SnapshotObject | undefined> {
    const [row] = await this.#sql.rows<ObjectRow>('SELECT * FROM objects WHERE guid = $1', [guid]);
    return row && fromRow(row);
  }

  async getObjects(guids: readonly string[]): Promise<Map<string, SnapshotObject>> {
    if (guids.length === 0) return new Map();
    const rows = await this.#sql.rows<ObjectRow>('SELECT * FROM objects WHERE guid = ANY($1)', [guids]);
    return new Map(rows.map((r) => [r.guid, fromRow(r)]));
  }

  async putObject(o: SnapshotObject): Promise<void> {
    await this.#sql.later(OBJECTS, o);
  }

  async deleteObject(guid: string): Promise<void> {
    await this.#sql.query('DELETE FROM objects WHERE guid = $1', [guid]);
    await this.#sql.query('DELETE FROM memberships WHERE group_guid = $1', [guid]);
  }

  async classOf(guid: string): Promise<string | null> {
    return (await this.#sql.value<string>('SELECT class FROM objects WHERE guid = $1', [guid])) ?? null;
  }

  async classesOf(guids: readonly string[]): Promise<Map<string, string>> {
    if (guids.length === 0) return new Map();
    const rows = await this.#sql.rows<{ guid: string; class: string }>(
      'SELECT guid, class FROM objects WHERE guid = ANY($1)',
      [guids],
    );
    return new Map(rows.map((r) => [r.guid, r.class]));
  }

  async objectGuids(): Promise<string[]> {
    return (await this.#sql.rows<{ guid: string }>('SELECT guid FROM objects')).map((r) => r.guid);
  }

  async objectsBeneath(dn: string): Promise<SnapshotObject[]> {
    const rows = await this.#sql.rows<ObjectRow>(
      `SELECT * FROM objects WHERE ${beneath('dn')} ORDER BY guid`,
      [dn, `,${dn}`],
    );
    return rows.map(fromRow);
  }

  async members(groupGuid: string): Promise<StoredMember[]> {
    const rows = await this.#sql.rows<{ member_guid: string; member_dn: string }>(
      'SELECT member_guid, member_dn FROM memberships WHERE group_guid = $1',
      [groupGuid],
    );
    return rows.map((r) => ({
      guid: r.member_guid.startsWith('dn:') ? null : r.member_guid,
      dn: r.member_dn,
    }));
  }

  async membersOf(groupGuids: readonly string[]): Promise<Map<string, StoredMember[]>> {
    const found = new Map<string, StoredMember[]>(groupGuids.map((guid) => [guid, []]));
    if (groupGuids.length === 0) return found;
    const rows = await this.#sql.rows<{ group_guid: string; member_guid: string; member_dn: string }>(
      'SELECT group_guid, member_guid, member_dn FROM memberships WHERE group_guid = ANY($1)',
      [groupGuids],
    );
    for (const r of rows) {
      found.get(r.group_guid)?.push({
        guid: r.member_guid.startsWith('dn:') ? null : r.member_guid,
        dn: r.member_dn,
      });
    }
    return found;
  }

  async replaceMemberships(groupGuid: string, members: readonly MemberRef[]): Promise<void> {
    await this.#membership(
      groupGuid,
      [{ group: groupGuid, key: null, dn: null }],
      members.map((m) => [memberKey(m), m.dn]),
    );
  }

  async updateMemberships(
    groupGuid: string,
    before: readonly StoredMember[],
    after: readonly MemberRef[],
  ): Promise<void> {
    const was = new Map(before.map((m) => [memberKey(m), m.dn]));
    const seen = new Set<string>();
    const changed: [string, string][] = [];
    for (const m of after) {
      const k = memberKey(m);
      seen.add(k);
      if (was.get(k) !== m.dn) changed.push([k, m.dn]);
    }
    const gone = [...was.keys()].filter((k) => !seen.has(k));
    await this.#membership(
      groupGuid,
      gone.map((key) => ({ group: groupGuid, key, dn: null })),
      changed,
    );
  }

  /**
   * A group's membership writes, held back with other groups' (MEMBERSHIPS): its deletions,
   * then its members. A group whose members are still held back is sent first, so that in
   * every batch a group's deletions come before its members.
   */
  async #membership(
    groupGuid: string,
    deletions: MembershipWrite[],
    members: readonly [string, string][],
  ): Promise<void> {
    if (
      deletions.length > 0 &&
      this.#sql.pending(MEMBERSHIPS).some((w) => w.group === groupGuid && w.dn !== null)
    ) {
      await this.#sql.flush();
    }
    for (const d of deletions) await this.#sql.later(MEMBERSHIPS, d);
    for (const [key, dn] of members) await this.#sql.later(MEMBERSHIPS, { group: groupGuid, key, dn });
  }

  async groupsContaining(key: string): Promise<string[]> {
    const rows = await this.#sql.rows<{ group_guid: string }>(
      'SELECT group_guid FROM memberships WHERE member_guid = $1',
      [key],
    );
    return rows.map((r) => r.group_guid);
  }

  async memberDn(key: string): Promise<string | undefined> {
    return this.#sql.value<string>('SELECT member_dn FROM memberships WHERE member_guid = $1 LIMIT 1', [key]);
  }

  async deleteMembership(groupGuid: string, key: string): Promise<void> {
    await this.#sql.query('DELETE FROM memberships WHERE group_guid = $1 AND member_guid = $2', [
      groupGuid,
      key,
    ]);
  }

  async setMemberDn(memberGuid: string, dn: string): Promise<void> {
    await this.#sql.query('UPDATE memberships SET member_dn = $1 WHERE member_guid = $2', [dn, memberGuid]);
  }

  async putContainer(guid: string, dn: string): Promise<void> {
    await this.#sql.query(
      'INSERT INTO containers (guid, dn) VALUES ($1, $2) ON CONFLICT (guid) DO UPDATE SET dn = excluded.dn',
      [guid, dn],
    );
  }

  async containerDn(guid: string): Promise<string | undefined> {
    return this.#sql.value<string>('SELECT dn FROM containers WHERE guid = $1', [guid]);
  }

  async containerGuids(): Promise<string[]> {
    return (await this.#sql.rows<{ guid: string }>('SELECT guid FROM containers')).map((r) => r.guid);
  }

  async deleteContainer(guid: string): Promise<void> {
    await this.#sql.query('DELETE FROM containers WHERE guid = $1', [guid]);
  }

  async deleteContainersWithin(dn: string): Promise<void> {
    await this.#sql.query(`DELETE FROM containers WHERE lower(dn) = lower($1) OR ${beneath('dn')}`, [
      dn,
      `,${dn}`,
    ]);
  }

  async renameSubtree(from: string, to: string): Promise<number> {
    const params = [from, `,${from}`, to];
    const set = (column: string) => `left(${column}, length(${column}) - length($1)) || $3`;
    const objects = await this.#sql.changed(
      `UPDATE objects SET dn = ${set('dn')} WHERE ${beneath('dn')}`,
      params,
    );
    await this.#sql.query(`UPDATE containers SET dn = ${set('dn')} WHERE ${beneath('dn')}`, params);
    await this.#sql.query(
      `UPDATE memberships SET member_dn = ${set('member_dn')} WHERE ${beneath('member_dn')}`,
      params,
    );
    return objects;
  }

  async clear(): Promise<void> {
    await this.#sql.query('DELETE FROM objects');
    await this.#sql.query('DELETE FROM containers');
    await this.#sql.query('DELETE FROM memberships');
  }

  async counts(): Promise<SnapshotCounts> {
    const [row] = await this.#sql.rows<Record<keyof SnapshotCounts, string>>(
      `SELECT (SELECT count(*) FROM objects) AS objects,
              (SELECT count(*) FROM objects WHERE class = 'group') AS groups,
              (SELECT count(*) FROM containers) AS containers,
              (SELECT count(*) FROM memberships) AS memberships`,
    );
    return {
      objects: Number(row?.objects ?? 0),
      groups: Number(row?.groups ?? 0),
      containers: Number(row?.containers ?? 0),
      memberships: Number(row?.memberships ?? 0),
    };
  }
}
