/**
 * Applies the entries a cycle reads to the snapshot, and records the events they mean. The
 * decisions are the core's (deriveEvents, deletionEvents); this class feeds it what the
 * snapshot knew and writes back what the directory now says, inside the cycle's transaction.
 *
 * Entries arrive in the server's order, not parents first. A container renamed in the same
 * cycle as a descendant that changed for another reason would make that descendant look
 * moved; so events are held until the cycle has seen every entry, and moves are reported only
 * when the container renames of the cycle do not explain them.
 */
import type { AttributeSet } from '../core/attributes.js';
import {
  fullReadFilter,
  isWithin,
  rebase,
  rebaseAll,
  unrebaseAll,
  type ContainerRename,
} from '../core/dn.js';
import { deletionEvents, deriveEvents, objectRef, type DirectoryEvent } from '../core/events.js';
import { parseGeneralizedTime } from '../core/normalize.js';
import type { SnapshotObject, StoredMember } from '../core/snapshot.js';
import { isContainer, type DirectoryEntry, type MemberRef } from '../core/types.js';
import type { DirectorySource } from '../directory/port.js';
import type { Logger } from '../log/logger.js';
import { toSnapshotObject, type SnapshotPolicy } from '../store/snapshotValues.js';
import { objectChunks } from '../store/cycleChunks.js';
import type { EventLog, SnapshotStore } from '../store/ports.js';

export interface ApplierOptions {
  snapshot: SnapshotStore;
  events: EventLog;
  directory: DirectorySource;
  log: Logger;
  baseDN: string;
  scopeFilter: string;
  policy: SnapshotPolicy;
  /** Built-in noise plus directory.attributes.ignore. */
  ignore: AttributeSet;
  actorAttribute: string | null;
  /**
   * Incremental cycles: the cursor. An object with uSNCreated above it was created since the
   * last cycle; one below it existed and has only come into scope. Null in a resync.
   */
  cursor: bigint | null;
  /** Resync: objects created (whenCreated) after this were created since the last cycle. */
  since: Date | null;
  /** The time recorded with each event. */
  at: () => string;
  /** The cycle row the events belong to (written on first use). */
  cycleId: () => Promise<number>;
}

/**
 * Objects with events kept in memory for the notification step (the rest are re-read from the
 * snapshot, about 50 µs each). Few: kept objects live through the cycle and fill V8's old
 * generation; 5,000 made an incremental cycle of 2,000 changes peak ~10 MB higher in RSS
 * (npm run bench, 20,000 users, 5 runs each) for no measurable gain in time.
 */
const WRITTEN_KEPT = 500;

/** How far the DC's clock (whenCreated) may be behind ours in a resync. */
const CLOCK_SLACK_MS = 60_000;

export class ChangeApplier {
  readonly counts = { objects: 0, groups: 0, memberships: 0, containers: 0 };
  events = 0;
  /** The highest uSNChanged of the entries read (what the snapshot now reflects of this DC). */
  maxUsnChanged = 0n;
  readonly #o: ApplierOptions;
  readonly #renames: ContainerRename[] = [];
  /**
   * Events are written as they are derived, so that a mass change never holds them all; the
   * few that finish() may still drop or complete are remembered by id.
   */
  readonly #moves: { id: number; event: DirectoryEvent & { type: 'object.moved' } }[] = [];
  /**
   * Membership events whose member's class was not known when recorded (a member read later
   * in the cycle than its group, or one outside the snapshot). Only counted: finish() finds
   * them again in the event log a chunk at a time, so a mass change of members outside the
   * snapshot holds none of them in memory.
   */
  #classless = 0;
  /**
   * Objects that left the snapshot this cycle, as it last knew them: the notifications still
   * need their owners, manager and name. `deleted` is false for objects that left the scope.
   */
  readonly departed = new Map<string, { object: SnapshotObject; deleted: boolean }>();
  /** Objects with events this cycle, as written: the notifications read them from here. */
  readonly written = new Map<string, SnapshotObject>();

  /**
   * The snapshot rows of the page being applied, read in one query (null: not in the snapshot).
   * Each write of an object updates its row here; a container rename, which rewrites the DNs
   * of many, empties it.
   */
  #page = new Map<string, SnapshotObject | null>();
  /** The stored members of the page's groups, read in one query; dropped once one is written. */
  #pageMembers = new Map<string, StoredMember[]>();
  /**
   * Classes of the members the page's groups gain or lose, read in one query (null: not in
   * the snapshot); each object this cycle writes or removes updates its class here.
   */
  #pageClasses = new Map<string, string | null>();

  constructor(options: ApplierOptions) {
    this.#o = options;
  }

  /** A page of the change search (or of a resync's full read): its snapshot rows read at once. */
  async page(entries: readonly DirectoryEntry[]): Promise<void> {
    const guids = entries.map((e) => e.guid);
    const found = await this.#o.snapshot.getObjects(guids);
    this.#page = new Map(guids.map((guid) => [guid, found.get(guid) ?? null]));
    const groups = entries.filter((e) => e.members && found.has(e.guid)).map((e) => e.guid);
    this.#pageMembers = await this.#o.snapshot.membersOf(groups);
    const wanted = entries.flatMap((e) =>
      changedMembers(this.#pageMembers.get(e.guid), e.members, !found.has(e.guid)),
    );
    const classes = await this.#o.snapshot.classesOf([...new Set(wanted)]);
    this.#pageClasses = new Map(wanted.map((guid) => [guid, classes.get(guid) ?? null]));
    try {
      for (const entry of entries) await this.entry(entry);
    } finally {
      this.#forgetPage();
    }
  }

  /** Drops what was read for the page: after it, or when a write makes it stale. */
  #forgetPage(): void {
    this.#page.clear();
    this.#pageMembers.clear();
    this.#pageClasses.clear();
  }

  async #members(groupGuid: string): Promise<StoredMember[]> {
    return this.#pageMembers.get(groupGuid) ?? this.#o.snapshot.members(groupGuid);
  }

  /** Classes of `guids`, from the page's where it read them, the rest in one query. */
  async #classesOf(guids: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const unknown: string[] = [];
    for (const guid of guids) {
      const cls = this.#pageClasses.get(guid);
      if (cls === undefined) unknown.push(guid);
      else if (cls !== null) found.set(guid, cls);
    }
    for (const [guid, cls] of await this.#o.snapshot.classesOf(unknown)) found.set(guid, cls);
    return found;
  }

  /** One entry of the change search (or of a resync's full read). */
  async entry(entry: DirectoryEntry): Promise<void> {
    if (entry.usnChanged > this.maxUsnChanged) this.maxUsnChanged = entry.usnChanged;
    if (entry.deleted) await this.deleted(entry.guid);
    else if (isContainer(entry.objectClass)) await this.#container(entry);
    else if (isWithin(entry.dn, this.#o.baseDN)) await this.#inScope(entry);
    else {
      const before = await this.#stored(entry.guid);
      if (before) await this.#leaveScope(before, entry.dn);
    }
  }

  /** The stored object, from the page's rows when they hold it. */
  async #stored(guid: string): Promise<SnapshotObject | undefined> {
    const cached = this.#page.get(guid);
    if (cached !== undefined) return cached ?? undefined;
    return this.#o.snapshot.getObject(guid);
  }

  async #put(object: SnapshotObject): Promise<void> {
    await this.#o.snapshot.putObject(object);
    if (this.#page.has(object.guid)) this.#page.set(object.guid, object);
    if (this.#pageClasses.has(object.guid)) this.#pageClasses.set(object.guid, object.class);
  }

  async #delete(guid: string): Promise<void> {
    await this.#o.snapshot.deleteObject(guid);
    if (this.#page.has(guid)) this.#page.set(guid, null);
    if (this.#pageClasses.has(guid)) this.#pageClasses.set(guid, null);
    this.#pageMembers.delete(guid);
  }

  /** A member's DN changed in the memberships table: the page's member lists may hold it. */
  async #setMemberDn(guid: string, dn: string): Promise<void> {
    await this.#o.snapshot.setMemberDn(guid, dn);
    this.#pageMembers.clear();
  }

  /**
   * Resync: an object of the snapshot that the full read did not return, as a look-up by GUID
   * found it. A tombstone is a deletion; a live object has moved out of the base or no longer
   * matches the filter.
   */
  async missing(entry: DirectoryEntry): Promise<void> {
    if (entry.deleted) {
      await this.deleted(entry.guid);
      return;
    }
    const before = await this.#o.snapshot.getObject(entry.guid);
    if (before) await this.#leaveScope(before, entry.dn);
  }

  /**
   * An object that changed and no longer matches directory.filter (read by a search for what
   * does not match it): when the snapshot holds it, it leaves the scope.
   */
  async noLongerMatching(entry: DirectoryEntry): Promise<void> {
    const before = await this.#o.snapshot.getObject(entry.guid);
    if (before) await this.#leaveScope(before, entry.dn);
  }

  /**
   * An object was deleted (a tombstone, or not found at all). A watched object yields
   * `object.deleted`; any object, watched or not, that the snapshot knew as a member leaves
   * each of its groups with `group.member.removed`: the directory drops the member values
   * without bumping the groups, so only the snapshot knows.
   */
  async deleted(guid: string): Promise<void> {
    const { snapshot } = this.#o;
    if ((await snapshot.containerDn(guid)) !== undefined) {
      await snapshot.deleteContainer(guid);
      this.counts.containers++;
    }
    const stored = await this.#stored(guid);
    // Told by the DN it had before the cycle, not one a container rename of this cycle gave it.
    const known = stored && this.#beforeCycle(stored);
    const containing = await snapshot.groupsContaining(guid);
    const groups = [...(await snapshot.getObjects(containing)).values()];
    if (!known && groups.length === 0) return;
    const memberDn = await snapshot.memberDn(guid);
    const member = {
      guid,
      dn: known?.dn ?? (memberDn === undefined ? guid : unrebaseAll(memberDn, this.#renames)),
      class: known?.class ?? null,
    };
    for (const event of deletionEvents(known, member, groups)) await this.#record(event);
    for (const group of groups) {
      await snapshot.deleteMembership(group.guid, guid);
      this.#pageMembers.delete(group.guid);
    }
    if (known) {
      this.departed.set(guid, { object: known, deleted: true });
      await this.#delete(guid);
      this.counts.objects++;
    }
  }

  /**
   * Completes the cycle's events, after every entry: a move is dropped when the cycle's
   * container renames explain it, and a member's class is filled in when the member was read
   * later in the cycle than its group.
   */
  async finish(): Promise<void> {
    const { events } = this.#o;
    for (const { id, event } of this.#moves) {
      if (!event.leftScope && rebaseAll(event.from, this.#renames) === event.to) {
        await events.delete(id);
        this.events--;
      }
    }
    if (this.#classless > 0) await this.#fillMemberClasses();
    this.#moves.length = 0;
    this.#classless = 0;
  }

  /** Fills in the class of members read after their group, a chunk of the cycle's events at a time. */
  async #fillMemberClasses(): Promise<void> {
    const { snapshot, events } = this.#o;
    const cycleId = await this.#o.cycleId();
    for await (const chunk of objectChunks(events, cycleId)) {
      for (const { id, event } of await events.recordedOfCycle(cycleId, chunk)) {
        if (event.type !== 'group.member.added' && event.type !== 'group.member.removed') continue;
        if (event.member.class !== null || event.member.guid === null) continue;
        const cls = await snapshot.classOf(event.member.guid);
        if (cls !== null) await events.replace(id, { ...event, member: { ...event.member, class: cls } });
      }
    }
  }

  async #inScope(entry: DirectoryEntry): Promise<void> {
    const { snapshot } = this.#o;
    const after = toSnapshotObject(entry, this.#o.policy);
    const stored = await this.#stored(entry.guid);
    const before = stored && this.#beforeCycle(stored);
    const beforeMembers = before && entry.members ? await this.#members(entry.guid) : undefined;
    const classes = await this.#classesOf(changedMembers(beforeMembers, entry.members, before === undefined));
    const events = deriveEvents(
      {
        ...(before
          ? { before: { object: before, ...(beforeMembers ? { members: beforeMembers } : {}) } }
          : {}),
        after: { object: after, ...(entry.members ? { members: entry.members } : {}) },
        created: this.#createdSinceLastCycle(entry),
      },
      {
        ignore: this.#o.ignore,
        actorAttribute: this.#o.actorAttribute,
        classOf: (guid) => classes.get(guid) ?? null,
      },
    );
    for (const event of events) await this.#record(event);
    await this.#put(after);
    // Kept only for objects with events, and only so many: a mass change falls back to
    // reading them from SQLite, so memory stays bounded.
    if (events.length > 0 && (this.written.size < WRITTEN_KEPT || this.written.has(after.guid))) {
      this.written.set(after.guid, after);
    }
    this.counts.objects++;
    if (entry.members) {
      if (beforeMembers) await snapshot.updateMemberships(entry.guid, beforeMembers, entry.members);
      else await snapshot.replaceMemberships(entry.guid, entry.members);
      this.#pageMembers.delete(entry.guid);
      this.counts.groups++;
      this.counts.memberships += entry.members.length;
    }
    if (before && before.dn !== after.dn) await this.#setMemberDn(entry.guid, after.dn);
  }

  #createdSinceLastCycle(entry: DirectoryEntry): boolean {
    if (this.#o.cursor !== null) return entry.usnCreated > this.#o.cursor;
    const whenCreated = entry.attributes.get('whenCreated')?.[0];
    const created = typeof whenCreated === 'string' ? parseGeneralizedTime(whenCreated) : undefined;
    // whenCreated has whole seconds and the DC's clock: allow for both.
    return (
      created !== undefined &&
      this.#o.since !== null &&
      created.getTime() >= this.#o.since.getTime() - CLOCK_SLACK_MS
    );
  }

  async #container(entry: DirectoryEntry): Promise<void> {
    const { snapshot, log } = this.#o;
    const old = await snapshot.containerDn(entry.guid);
    const inScope = isWithin(entry.dn, this.#o.baseDN);
    if (old === undefined) {
      if (!inScope) return;
      await snapshot.putContainer(entry.guid, entry.dn);
      this.counts.containers++;
      // An existing OU moved into the base brings its objects along without bumping them.
      const movedIn = this.#o.cursor !== null && entry.usnCreated <= this.#o.cursor;
      if (movedIn) await this.#enterSubtree(entry.dn);
      return;
    }
    if (old === entry.dn) return;
    this.counts.containers++;
    // Rows read for the page may hold DNs this rename or move rewrites.
    this.#forgetPage();
    if (inScope) {
      const moved = await snapshot.renameSubtree(old, entry.dn);
      await snapshot.putContainer(entry.guid, entry.dn);
      this.#renames.push({ from: old, to: entry.dn });
      log.info('container renamed or moved; the snapshot follows', {
        from: old,
        to: entry.dn,
        objects: moved,
      });
      return;
    }
    for (const object of await snapshot.objectsBeneath(old))
      await this.#leaveScope(object, rebase(object.dn, old, entry.dn));
    await snapshot.deleteContainersWithin(old);
  }

  async #enterSubtree(dn: string): Promise<void> {
    this.#o.log.info('container moved into the watched base; reading what it holds', { dn });
    for await (const page of this.#o.directory.search({
      base: dn,
      filter: fullReadFilter(this.#o.scopeFilter),
    })) {
      for (const entry of page) {
        if (isContainer(entry.objectClass)) await this.#o.snapshot.putContainer(entry.guid, entry.dn);
        else await this.#inScope(entry);
      }
    }
  }

  /** The object with the DN it had before this cycle's container renames. */
  #beforeCycle(object: SnapshotObject): SnapshotObject {
    if (this.#renames.length === 0) return object;
    const dn = unrebaseAll(object.dn, this.#renames);
    return dn === object.dn ? object : { ...object, dn };
  }

  /** A watched object moved out of the base (or out of the filter): reported, then no longer watched. */
  async #leaveScope(object: SnapshotObject, to: string): Promise<void> {
    const from = this.#beforeCycle(object).dn;
    await this.#record({ type: 'object.moved', object: objectRef(object), from, to, leftScope: true });
    this.departed.set(object.guid, { object: { ...object, dn: to }, deleted: false });
    await this.#delete(object.guid);
    await this.#setMemberDn(object.guid, to);
    this.counts.objects++;
  }

  async #record(event: DirectoryEvent): Promise<void> {
    const id = await this.#o.events.add(await this.#o.cycleId(), this.#o.at(), event);
    this.events++;
    this.#o.log.debug('event', { id, type: event.type, guid: event.object.guid, dn: event.object.dn });
    if (event.type === 'object.moved' && !event.leftScope) this.#moves.push({ id, event });
    if (
      (event.type === 'group.member.added' || event.type === 'group.member.removed') &&
      event.member.class === null &&
      event.member.guid !== null
    ) {
      this.#classless++;
    }
  }
}

/**
 * The members whose class an event may name: those added or removed (or, for a group new to the
 * snapshot, all of them). Their classes are read in one query.
 */
function changedMembers(
  before: readonly StoredMember[] | undefined,
  after: readonly MemberRef[] | undefined,
  isNew: boolean,
): string[] {
  if (!after) return [];
  const out: string[] = [];
  if (isNew || !before) {
    for (const m of after) if (m.guid !== null) out.push(m.guid);
    return out;
  }
  const had = new Set<string>();
  for (const m of before) if (m.guid !== null) had.add(m.guid);
  const has = new Set<string>();
  for (const m of after) {
    if (m.guid === null) continue;
    has.add(m.guid);
    if (!had.has(m.guid)) out.push(m.guid);
  }
  for (const guid of had) if (!has.has(guid)) out.push(guid);
  return out;
}
