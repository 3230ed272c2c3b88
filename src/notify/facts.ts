/**
 * The facts the notification rules (core/notify.ts) need about an object with events: its
 * owners, managers and members from the snapshot, whether it is a protected group, and which
 * changed groups are public (asked of the directory, which evaluates notify.publicGroups).
 */
import type { Config } from '../config/schema.js';
import { sameDn } from '../core/dn.js';
import type { DirectoryEvent } from '../core/events.js';
import type { ObjectFacts, Party } from '../core/notify.js';
import { attributeValues, type SnapshotObject, type SnapshotValue } from '../core/snapshot.js';
import type { DirectorySource } from '../directory/port.js';
import type { SnapshotStore } from '../store/ports.js';

/** What a cycle leaves for its notifications besides the recorded events. */
export interface CycleObjects {
  departed: ReadonlyMap<string, { object: SnapshotObject; deleted: boolean }>;
  /** Objects the cycle wrote to the snapshot, as written (saves reading them back). */
  written?: ReadonlyMap<string, SnapshotObject>;
}

/** Groups per search when asking which changed groups are public (one OR of GUIDs each). */
const PUBLIC_BATCH = 250;

/** The DN values of an attribute (any case). */
export function dnValues(object: SnapshotObject, attribute: string | null): Party[] {
  const values = attribute === null ? undefined : attributeValues(object, attribute);
  const out: Party[] = [];
  for (const v of values ?? []) if (typeof v !== 'string' && 'dn' in v) out.push({ guid: v.guid, dn: v.dn });
  return out;
}

/** The first text value of an attribute (any case), or null. */
export function snapshotText(object: SnapshotObject, attribute: string): string | null {
  const value: SnapshotValue | undefined = attributeValues(object, attribute)?.[0];
  return typeof value === 'string' ? value : null;
}

/**
 * A protected group: adminCount=1 after the cycle or before it (a change that clears the flag
 * is itself worth telling), or listed in notify.protectedGroupsExtra under either DN.
 */
function isProtectedGroup(
  object: SnapshotObject,
  events: readonly DirectoryEvent[],
  extra: readonly string[],
): boolean {
  if (object.class !== 'group') return false;
  if (snapshotText(object, 'adminCount') === '1') return true;
  const flagWasSet = events.some(
    (e) =>
      e.type === 'object.modified' &&
      e.changes.some(
        (c) => c.attribute.toLowerCase() === 'admincount' && 'before' in c && c.before.includes('1'),
      ),
  );
  if (flagWasSet) return true;
  const dns = [object.dn, ...events.flatMap((e) => (e.type === 'object.moved' ? [e.from, e.to] : []))];
  return extra.some((listed) => dns.some((dn) => sameDn(listed, dn)));
}

/** The object as the cycle left it (written, in the snapshot, or departed). */
async function objectOf(
  snapshot: Pick<SnapshotStore, 'getObject'>,
  cycle: CycleObjects,
  guid: string,
): Promise<SnapshotObject | undefined> {
  // The snapshot given here serves the objects the cycle kept in memory (ChunkSnapshot).
  return (await snapshot.getObject(guid)) ?? cycle.departed.get(guid)?.object;
}

export async function factsFor(
  config: Config,
  snapshot: Pick<SnapshotStore, 'getObject' | 'members' | 'classesOf'>,
  cycle: CycleObjects,
  events: readonly DirectoryEvent[],
  isPublic: boolean,
): Promise<ObjectFacts | undefined> {
  const ref = events[0]?.object;
  if (!ref) return undefined;
  const object = await objectOf(snapshot, cycle, ref.guid);
  if (!object) return undefined;
  const isGroup = object.class === 'group';
  return {
    object: ref,
    displayName: snapshotText(object, 'displayName'),
    owners: isGroup
      ? [...dnValues(object, 'managedBy'), ...dnValues(object, config.directory.additionalOwnersAttribute)]
      : [],
    managers: isGroup
      ? []
      : [...dnValues(object, 'manager'), ...dnValues(object, config.directory.additionalManagersAttribute)],
    // Only objectModified tells a group's members: do not read a large group otherwise.
    members:
      isGroup && config.notify.objectModified
        ? await membersOf(snapshot, ref.guid, config.notify.expandNestedGroups)
        : [],
    isPublic,
    isProtected: isProtectedGroup(object, events, config.notify.protectedGroupsExtra),
  };
}

/** A group's members from the snapshot; with `nested`, members of member groups too. */
async function membersOf(
  snapshot: Pick<SnapshotStore, 'members' | 'classesOf'>,
  guid: string,
  nested: boolean,
): Promise<Party[]> {
  const out = new Map<string, Party>();
  const seen = new Set<string>([guid]);
  const visit = async (group: string): Promise<void> => {
    const members = await snapshot.members(group);
    for (const m of members) {
      const key = m.guid ?? m.dn.toLowerCase();
      if (!out.has(key)) out.set(key, m);
    }
    if (!nested) return;
    const unseen = members.flatMap((m) => (m.guid === null || seen.has(m.guid) ? [] : [m.guid]));
    for (const [member, cls] of await snapshot.classesOf(unseen)) {
      if (cls !== 'group' || seen.has(member)) continue;
      seen.add(member);
      await visit(member);
    }
  };
  await visit(guid);
  return [...out.values()];
}

/**
 * The groups with membership changes this cycle that are public (notify.publicGroups) and
 * have an owner to tell. Every group is public by default: nothing to ask. A filter is asked
 * of the directory, which evaluates it exactly (extensible matches included), in one search
 * per batch of groups.
 */
export async function findPublicGroups(
  config: Config,
  snapshot: Pick<SnapshotStore, 'getObject'>,
  directory: DirectorySource,
  base: string,
  cycle: CycleObjects,
  grouped: ReadonlyMap<string, DirectoryEvent[]>,
): Promise<Set<string>> {
  const found = new Set<string>();
  if (!config.notify.publicGroupOwnerOnMembershipChange) return found;
  const hasOwner = async (guid: string) => {
    const object = await snapshot.getObject(guid);
    return (
      object !== undefined &&
      dnValues(object, 'managedBy').length +
        dnValues(object, config.directory.additionalOwnersAttribute).length >
        0
    );
  };
  const candidates: string[] = [];
  for (const [guid, events] of grouped) {
    if (cycle.departed.get(guid)?.deleted) continue;
    if (!events.some((e) => e.type.startsWith('group.member.'))) continue;
    if (await hasOwner(guid)) candidates.push(guid);
  }
  const { publicGroups } = config.notify;
  if (publicGroups === 'all') return new Set(candidates);
  for (let i = 0; i < candidates.length; i += PUBLIC_BATCH) {
    const filter = { guids: candidates.slice(i, i + PUBLIC_BATCH), and: publicGroups };
    for await (const page of directory.search({ base, filter }))
      for (const entry of page) found.add(entry.guid);
  }
  return found;
}
