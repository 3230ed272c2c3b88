/**
 * Events: what changed in the directory, derived from the snapshot before and the entry
 * after. Pure functions of their arguments (no I/O, no clock), table-tested in
 * test/unit/events.test.ts. The JSON shape is the one `adnotify history --json` prints
 * (spec/cli.md, "Event JSON").
 */
import { AttributeSet } from './attributes.js';
import {
  attributeValues,
  isBinaryValue,
  isLegacyRedactedPair,
  isRedactedValue,
  memberKey,
  valueKey,
  valueText,
  type SnapshotObject,
  type SnapshotValue,
  type StoredMember,
} from './snapshot.js';

export interface ObjectRef {
  guid: string;
  dn: string;
  /** user, group, contact, or another structural class the filter admits. */
  class: string;
}

/** A group member; guid and class are null for a member outside the watched scope. */
export interface MemberInfo {
  guid: string | null;
  dn: string;
  class: string | null;
}

export type AttributeChange =
  | { attribute: string; before: string[]; after: string[] }
  | { attribute: string; redacted: true }
  | { attribute: string; binary: true; before: string[]; after: string[] };

/** Who made a change, as notifications and `history --json` name them. */
export interface Actor {
  /** The actor's objectSid, from an audit record. */
  sid: string | null;
  /** DOMAIN\account, or the sAMAccountName. */
  account: string | null;
  /** The display name, or what stands for one ("the domain controller"). */
  name: string | null;
  dn: string | null;
  /**
   * The account adnotify binds with (directory.bindDN). adnotify's own writes (the lifecycle
   * job) are told by the job and never seen by the poll, so a change the poll sees made with
   * it was made by someone else using those credentials: worth an administrator's notice.
   */
  serviceAccount?: true;
}

interface EventBase {
  object: ObjectRef;
  /**
   * Who made the change: from directory.actor (an attribute, or the DCs' audit records); null
   * when an audit source is set but no record of the change arrived in time.
   */
  actor?: Actor | null;
}

export type DirectoryEvent =
  | (EventBase & {
      type: 'object.created';
      /** Set when the object existed before but has only now come into the watched scope. */
      enteredScope?: true;
    })
  | (EventBase & { type: 'object.modified'; changes: AttributeChange[] })
  | (EventBase & {
      type: 'object.moved';
      from: string;
      to: string;
      /** Set when the object moved out of the watched scope; it is no longer watched. */
      leftScope?: true;
    })
  | (EventBase & { type: 'object.deleted' })
  | (EventBase & { type: 'group.member.added' | 'group.member.removed'; member: MemberInfo })
  | LifecycleEvent;

/** What the lifecycle job did or is about to do (it records these; the poll cycle does not). */
export type LifecycleType =
  | 'lifecycle.joined'
  | 'lifecycle.left'
  | 'lifecycle.leaving-soon'
  | 'lifecycle.owner-added'
  | 'lifecycle.owner-removed'
  | 'lifecycle.owner-removal-soon'
  | 'lifecycle.manager-added'
  | 'lifecycle.manager-removed'
  | 'lifecycle.manager-removal-soon'
  /** A temporary removal ended, but the member was not put back (disabled or deleted since). */
  | 'lifecycle.not-rejoined';

export interface LifecycleEvent extends EventBase {
  type: LifecycleType;
  /** The member, or the additional owner or manager; `object` is the group or the user. */
  subject: MemberInfo;
  /** The schedule (adnotify temp list) this belongs to. */
  schedule: number;
  /** For joins and additions: when it ends. For "-soon": when it will happen. */
  until?: string;
  /** lifecycle.not-rejoined: why the member was not put back. */
  reason?: string;
}

export type EventType = DirectoryEvent['type'];

export interface DiffPolicy {
  /** Built-in noise plus directory.attributes.ignore: never an event. */
  ignore: AttributeSet;
  /** directory.actor.attribute when directory.actor.source is "attribute", else null. */
  actorAttribute: string | null;
  /** The class of a watched object by GUID, or null when it is not in the snapshot. */
  classOf: (guid: string) => string | null;
}

export function objectRef(object: SnapshotObject): ObjectRef {
  return { guid: object.guid, dn: object.dn, class: object.class };
}

/**
 * Attribute changes between two snapshots of one object, by attribute name (case-insensitive)
 * and by value identity: multi-valued attributes are compared as sets regardless of order, DN
 * values by GUID, binary values and redacted attributes by hash. Sorted by attribute name.
 */
export function diffAttributes(
  before: Readonly<Record<string, SnapshotValue[]>>,
  after: Readonly<Record<string, SnapshotValue[]>>,
  ignore: AttributeSet,
): AttributeChange[] {
  const changes: AttributeChange[] = [];
  const compare = (name: string, was: SnapshotValue[], now: SnapshotValue[]) => {
    if (ignore.has(name) || sameValues(was, now) || isLegacyRedactedPair(was, now)) return;
    if (was.some(isRedactedValue) || now.some(isRedactedValue))
      changes.push({ attribute: name, redacted: true });
    else if (was.some(isBinaryValue) || now.some(isBinaryValue)) {
      changes.push({ attribute: name, binary: true, before: was.map(valueText), after: now.map(valueText) });
    } else changes.push({ attribute: name, before: was.map(valueText), after: now.map(valueText) });
  };
  // Names usually match exactly (the same DC spells them the same way every time): look them
  // up directly, and case-insensitively only for a name that does not.
  let lowerBefore: Map<string, string> | undefined;
  let lowerAfter: Set<string> | undefined;
  let matched = 0;
  const beforeNames = Object.keys(before);
  for (const name of Object.keys(after)) {
    let beforeName: string | undefined = Object.hasOwn(before, name) ? name : undefined;
    if (beforeName === undefined && beforeNames.length > 0) {
      lowerBefore ??= new Map(beforeNames.map((n) => [n.toLowerCase(), n]));
      beforeName = lowerBefore.get(name.toLowerCase());
    }
    if (beforeName !== undefined) matched++;
    compare(name, beforeName === undefined ? [] : (before[beforeName] ?? []), after[name] ?? []);
  }
  if (matched < beforeNames.length) {
    for (const name of beforeNames) {
      if (Object.hasOwn(after, name)) continue;
      lowerAfter ??= new Set(Object.keys(after).map((n) => n.toLowerCase()));
      if (!lowerAfter.has(name.toLowerCase())) compare(name, before[name] ?? [], []);
    }
  }
  return changes.sort((a, b) => (a.attribute < b.attribute ? -1 : a.attribute > b.attribute ? 1 : 0));
}

function sameValues(a: readonly SnapshotValue[], b: readonly SnapshotValue[]): boolean {
  if (a.length !== b.length) return false;
  // Usually the values come back in the same order: compare in place before sorting keys.
  if (a.every((x, i) => x === b[i] || valueKey(x) === valueKey(b[i] as SnapshotValue))) return true;
  const left = a.map(valueKey).sort();
  const right = b.map(valueKey).sort();
  return left.every((key, i) => key === right[i]);
}

/** Members added and removed, by member GUID (DN for members the server gave no GUID for). */
export function diffMembers(
  before: readonly StoredMember[],
  after: readonly StoredMember[],
): { added: StoredMember[]; removed: StoredMember[] } {
  const was = new Map(before.map((m) => [memberKey(m), m]));
  const now = new Map(after.map((m) => [memberKey(m), m]));
  return {
    added: [...now].filter(([key]) => !was.has(key)).map(([, m]) => m),
    removed: [...was].filter(([key]) => !now.has(key)).map(([, m]) => m),
  };
}

export interface ObjectChange {
  /** What the snapshot knew, its DN already following any container renamed this cycle. */
  before?: { object: SnapshotObject; members?: readonly StoredMember[] };
  after: { object: SnapshotObject; members?: readonly StoredMember[] };
  /**
   * True when the object was created since the last cycle; false when an existing object has
   * only now come into scope (moved into the base, or reanimated). Only read when `before` is
   * absent.
   */
  created: boolean;
}

/**
 * The events of one object that is in scope after the change: created (with its initial
 * members, for a new group), or moved, modified and membership changes, in that order.
 */
export function deriveEvents(change: ObjectChange, policy: DiffPolicy): DirectoryEvent[] {
  const { before, after } = change;
  const object = objectRef(after.object);
  const actor = actorOf(after.object, policy.actorAttribute);
  const base =
    actor === undefined ? { object } : { object, actor: { sid: null, account: null, name: null, dn: actor } };
  const events: DirectoryEvent[] = [];
  const member = (m: StoredMember): MemberInfo => ({
    guid: m.guid,
    dn: m.dn,
    class: m.guid === null ? null : policy.classOf(m.guid),
  });

  if (!before) {
    if (!change.created) return [{ ...base, type: 'object.created', enteredScope: true }];
    events.push({ ...base, type: 'object.created' });
    for (const m of after.members ?? [])
      events.push({ ...base, type: 'group.member.added', member: member(m) });
    return events;
  }

  const moved = before.object.dn !== after.object.dn;
  if (moved) events.push({ ...base, type: 'object.moved', from: before.object.dn, to: after.object.dn });
  let ignore = policy.actorAttribute === null ? policy.ignore : policy.ignore.with(policy.actorAttribute);
  // A rename changes the naming attribute (cn) and `name` with the DN: object.moved says it.
  if (moved) ignore = ignore.with('name', rdnType(before.object.dn), rdnType(after.object.dn));
  const changes = diffAttributes(before.object.attributes, after.object.attributes, ignore);
  if (changes.length > 0) events.push({ ...base, type: 'object.modified', changes });
  if (after.members) {
    const { added, removed } = diffMembers(before.members ?? [], after.members);
    for (const m of added) events.push({ ...base, type: 'group.member.added', member: member(m) });
    for (const m of removed) events.push({ ...base, type: 'group.member.removed', member: member(m) });
  }
  return events;
}

/**
 * A watched object was deleted: `object.deleted` (what the snapshot knew, since a tombstone
 * keeps little), nothing for its own members, and `group.member.removed` for each watched
 * group it was in, as the snapshot recorded them.
 */
export function deletionEvents(
  deleted: SnapshotObject | undefined,
  member: MemberInfo,
  groups: readonly SnapshotObject[],
): DirectoryEvent[] {
  const events: DirectoryEvent[] = [];
  if (deleted) events.push({ type: 'object.deleted', object: objectRef(deleted) });
  for (const group of groups) {
    events.push({ type: 'group.member.removed', object: objectRef(group), member });
  }
  return events;
}

/** The attribute type of a DN's first RDN: `cn` for "CN=Alice,OU=Staff,...". */
function rdnType(dn: string): string {
  return dn.slice(0, Math.max(0, dn.indexOf('='))).trim();
}

function actorOf(object: SnapshotObject, attribute: string | null): string | undefined {
  if (attribute === null) return undefined;
  const value = attributeValues(object, attribute)?.[0];
  return value === undefined ? undefined : valueText(value);
}
