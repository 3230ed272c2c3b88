/** The snapshot port in memory (for tests): the same answers as the SQLite one. */
import type { SnapshotObject, StoredMember } from '../../core/snapshot.js';
import type { MemberRef } from '../../core/types.js';
import type { SnapshotCounts, SnapshotStore, Synchronous } from '../ports.js';

export interface SnapshotData {
  objects: Map<string, SnapshotObject>;
  /** group GUID → member key (GUID, or "dn:<dn>") → member DN, in insertion order. */
  memberships: Map<string, Map<string, string>>;
  containers: Map<string, string>;
}

export const emptySnapshot = (): SnapshotData => ({
  objects: new Map(),
  memberships: new Map(),
  containers: new Map(),
});

const memberKey = (m: { guid: string | null; dn: string }) => m.guid ?? `dn:${m.dn}`;
const beneath = (dn: string, base: string) => dn.toLowerCase().endsWith(`,${base.toLowerCase()}`);
const rebased = (dn: string, from: string, to: string) => dn.slice(0, dn.length - from.length) + to;

export class MemorySnapshot implements Synchronous<SnapshotStore> {
  readonly #data: () => SnapshotData;

  constructor(data: () => SnapshotData) {
    this.#data = data;
  }

  getObject(guid: string): SnapshotObject | undefined {
    const object = this.#data().objects.get(guid);
    return object && structuredClone(object);
  }

  getObjects(guids: readonly string[]): Map<string, SnapshotObject> {
    const found = new Map<string, SnapshotObject>();
    for (const guid of guids) {
      const object = this.getObject(guid);
      if (object) found.set(guid, object);
    }
    return found;
  }

  putObject(object: SnapshotObject): void {
    this.#data().objects.set(object.guid, structuredClone(object));
  }

  deleteObject(guid: string): void {
    this.#data().objects.delete(guid);
    this.#data().memberships.delete(guid);
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
    return this.#data().objects.get(guid)?.class ?? null;
  }

  objectGuids(): string[] {
    return [...this.#data().objects.keys()];
  }

  objectsBeneath(dn: string): SnapshotObject[] {
    return [...this.#data().objects.values()].filter((o) => beneath(o.dn, dn)).map((o) => structuredClone(o));
  }

  membersOf(groupGuids: readonly string[]): Map<string, StoredMember[]> {
    return new Map(groupGuids.map((guid) => [guid, this.members(guid)]));
  }

  members(groupGuid: string): StoredMember[] {
    return [...(this.#data().memberships.get(groupGuid) ?? new Map<string, string>())].map(([key, dn]) => ({
      guid: key.startsWith('dn:') ? null : key,
      dn,
    }));
  }

  #group(groupGuid: string): Map<string, string> {
    const { memberships } = this.#data();
    let group = memberships.get(groupGuid);
    if (!group) memberships.set(groupGuid, (group = new Map<string, string>()));
    return group;
  }

  replaceMemberships(groupGuid: string, members: readonly MemberRef[]): void {
    this.#data().memberships.delete(groupGuid);
    const group = this.#group(groupGuid);
    for (const m of members) group.set(memberKey(m), m.dn);
  }

  updateMemberships(groupGuid: string, before: readonly StoredMember[], after: readonly MemberRef[]): void {
    const seen = new Set(after.map(memberKey));
    for (const m of before) if (!seen.has(memberKey(m))) this.deleteMembership(groupGuid, memberKey(m));
    const group = this.#group(groupGuid);
    for (const m of after) group.set(memberKey(m), m.dn);
  }

  groupsContaining(key: string): string[] {
    return [...this.#data().memberships].filter(([, group]) => group.has(key)).map(([guid]) => guid);
  }

  memberDn(key: string): string | undefined {
    for (const group of this.#data().memberships.values()) {
      const dn = group.get(key);
      if (dn !== undefined) return dn;
    }
    return undefined;
  }

  deleteMembership(groupGuid: string, key: string): void {
    this.#data().memberships.get(groupGuid)?.delete(key);
  }

  setMemberDn(memberGuid: string, dn: string): void {
    for (const group of this.#data().memberships.values())
      if (group.has(memberGuid)) group.set(memberGuid, dn);
  }

  putContainer(guid: string, dn: string): void {
    this.#data().containers.set(guid, dn);
  }

  containerDn(guid: string): string | undefined {
    return this.#data().containers.get(guid);
  }

  containerGuids(): string[] {
    return [...this.#data().containers.keys()];
  }

  deleteContainer(guid: string): void {
    this.#data().containers.delete(guid);
  }

  deleteContainersWithin(dn: string): void {
    const { containers } = this.#data();
    for (const [guid, at] of containers) {
      if (at.toLowerCase() === dn.toLowerCase() || beneath(at, dn)) containers.delete(guid);
    }
  }

  renameSubtree(from: string, to: string): number {
    const { objects, containers, memberships } = this.#data();
    let moved = 0;
    for (const object of objects.values()) {
      if (!beneath(object.dn, from)) continue;
      object.dn = rebased(object.dn, from, to);
      moved++;
    }
    for (const [guid, dn] of containers) if (beneath(dn, from)) containers.set(guid, rebased(dn, from, to));
    for (const group of memberships.values()) {
      for (const [key, dn] of group) if (beneath(dn, from)) group.set(key, rebased(dn, from, to));
    }
    return moved;
  }

  clear(): void {
    const data = this.#data();
    data.objects.clear();
    data.memberships.clear();
    data.containers.clear();
  }

  counts(): SnapshotCounts {
    const { objects, containers, memberships } = this.#data();
    return {
      objects: objects.size,
      groups: [...objects.values()].filter((o) => o.class === 'group').length,
      containers: containers.size,
      memberships: [...memberships.values()].reduce((n, group) => n + group.size, 0),
    };
  }
}
