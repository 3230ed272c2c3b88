/**
 * From a cycle's events to rendered messages in the outbox, inside the cycle's transaction.
 * The rules are the core's (intentsFor, planMessages); this module gathers the facts they
 * need from the snapshot (owners, managers, members), asks the directory only what the
 * snapshot cannot say (objects outside the watched scope, whether a group is public), turns
 * people into mailboxes (mail-enabled, not disabled; a group without mail by its members),
 * and renders each message.
 */
import type { Config } from '../config/schema.js';
import { namingContextOf, sameDn } from '../core/dn.js';
import type { DirectoryEvent, ObjectRef } from '../core/events.js';
import {
  byObject,
  concernsProtectedGroup,
  intentsFor,
  planMessages,
  type ObjectFacts,
  type Party,
  type PlannedMessage,
  type Recipient,
  type ResolvedIntent,
} from '../core/notify.js';
import type { SnapshotObject, SnapshotValue } from '../core/snapshot.js';
import { textOf, type DirectoryEntry } from '../core/types.js';
import { isNoSuchObject } from '../directory/errors.js';
import type { DirectorySource } from '../directory/port.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { mailAddress } from '../core/address.js';
import { newMessageId } from '../mail/messageId.js';
import {
  changeView,
  objectChangeView,
  rdnValue,
  showValue,
  type ObjectChangeView,
  type Renderer,
} from '../mail/render.js';
import type { SqliteStore } from '../store/sqlite.js';

export interface NotifyDeps {
  config: Config;
  store: SqliteStore;
  directory: DirectorySource;
  renderer: Renderer;
  log: Logger;
}

export interface CycleOutcome {
  /** The cycle whose recorded events are notified (read back from the store a chunk at a time). */
  cycleId: number;
  departed: ReadonlyMap<string, { object: SnapshotObject; deleted: boolean }>;
  /** Objects the cycle wrote to the snapshot, as written (saves reading them back). */
  written?: ReadonlyMap<string, SnapshotObject>;
  when: Date;
  namingContexts: readonly string[];
}

export interface QueueSummary {
  messages: number;
  held: boolean;
}

/** What is known about a possible recipient. */
interface Person {
  guid: string | null;
  dn: string;
  class: string;
  mail: string | null;
  /** A `mail` value that is not one plain address (not used; see core/address.ts). */
  badMail: string | null;
  displayName: string | null;
  disabled: boolean;
  deleted: boolean;
  members: Party[];
}

const ACCOUNTDISABLE = 0x2;
/** Groups per search when asking which changed groups are public (one OR of GUIDs each). */
const PUBLIC_BATCH = 250;

/**
 * Objects whose messages are planned and rendered together. A mass change is worked through
 * a chunk at a time, so its intents, planned messages and looked-up people never all sit in
 * memory at once; the flood guard decides on the cycle's total at the end.
 */
const CHUNK_OBJECTS = 1_000;
const CHUNK_EVENTS = 20_000;

export async function queueNotifications(deps: NotifyDeps, cycle: CycleOutcome): Promise<QueueSummary> {
  const { config, store, log } = deps;
  const createdAt = cycle.when.toISOString();
  let total = 0;
  const protectedGroups: string[] = [];
  let chunk: string[] = [];
  let chunkEvents = 0;
  const flush = async () => {
    const queued = await queueChunk(deps, cycle, byObject(store.eventsOfCycle(cycle.cycleId, chunk)));
    total += queued.messages;
    protectedGroups.push(...queued.protectedGroups);
    chunk = [];
    chunkEvents = 0;
  };
  for (const { guid, events } of store.objectsOfCycle(cycle.cycleId)) {
    if (chunk.length > 0 && (chunk.length >= CHUNK_OBJECTS || chunkEvents + events > CHUNK_EVENTS))
      await flush();
    chunk.push(guid);
    chunkEvents += events;
  }
  if (chunk.length > 0) await flush();
  if (protectedGroups.length > 0) log.warn('protected groups changed', { groups: protectedGroups });

  const held = total > config.delivery.maxMessagesPerCycle;
  if (held) {
    store.outbox.holdCycle(cycle.cycleId);
    const admins = [...config.smtp.to, ...config.smtp.cc];
    log.error(
      'flood guard: this cycle would send more messages than delivery.maxMessagesPerCycle; all are held',
      { messages: total, limit: config.delivery.maxMessagesPerCycle, alerted: admins },
    );
    if (admins.length > 0) {
      const rendered = deps.renderer.render('flood-alert', {
        count: total.toLocaleString('en-US'),
        limit: config.delivery.maxMessagesPerCycle.toLocaleString('en-US'),
        when: createdAt,
      });
      store.outbox.add({
        cycleId: cycle.cycleId,
        createdAt,
        status: 'pending',
        kind: 'flood-alert',
        objectGuid: null,
        messageId: newMessageId(config.smtp.from),
        envelope: { from: config.smtp.from, to: [...config.smtp.to], cc: [...config.smtp.cc] },
        ...rendered,
      });
    }
  }
  if (total > 0) log.info('notifications queued', { messages: total, held });
  return { messages: total, held };
}

/** Plans, renders and queues (as pending) the messages about one chunk of objects. */
async function queueChunk(
  deps: NotifyDeps,
  cycle: CycleOutcome,
  grouped: ReadonlyMap<string, DirectoryEvent[]>,
): Promise<{ messages: number; protectedGroups: string[] }> {
  const { config, store } = deps;
  const people = new PeopleDirectory(deps, cycle);
  const publicGroups = await findPublicGroups(deps, cycle, grouped);

  const intents: ResolvedIntent[] = [];
  const facts = new Map<string, ObjectFacts>();
  const protectedGroups: ObjectRef[] = [];
  for (const [guid, events] of grouped) {
    const f = factsFor(deps, cycle, guid, events, publicGroups.has(guid));
    if (!f) continue;
    facts.set(guid, f);
    if (config.notify.protectedGroups && concernsProtectedGroup(events, f)) protectedGroups.push(f.object);
    for (const intent of intentsFor(events, f, config.notify)) {
      // A group among a group's members is told through its mail only (its own members are
      // already listed when expandNestedGroups is on); a group told for another reason (an
      // owner, an added member) without mail is told through its members.
      const expand = intent.reasons.some((r) => r !== 'member');
      intents.push({ ...intent, recipients: await people.mailboxes(intent.party, expand) });
    }
  }
  // The flood guard is the caller's, on the whole cycle: here every message is pending.
  const plan = planMessages(intents, config.smtp, Number.MAX_SAFE_INTEGER, protectedGroups);
  const createdAt = cycle.when.toISOString();
  const told = toldByObject(plan.messages);
  // Messages come grouped by object: the object's part of the view is computed once.
  let common: { guid: string; view: ObjectChangeView } | undefined;
  for (const message of plan.messages) {
    const f = facts.get(message.object.guid);
    const events = grouped.get(message.object.guid) ?? [];
    if (common?.guid !== message.object.guid) {
      common = {
        guid: message.object.guid,
        view: objectChangeView({
          object: message.object,
          displayName: f?.displayName ?? null,
          events,
          when: cycle.when,
          nameOf: (guid, dn) => people.nameOf(guid, dn),
          protectedGroup: message.protectedGroup === true,
        }),
      };
    }
    const view = changeView(
      {
        object: message.object,
        displayName: f?.displayName ?? null,
        events,
        reasons: message.reasons,
        when: cycle.when,
        recipientName: message.kind === 'admin-copy' ? null : (message.to[0]?.name ?? null),
        told: message.kind === 'admin-copy' ? (told.get(message.object.guid) ?? []) : [],
      },
      { ...common.view, protectedGroup: message.protectedGroup === true },
    );
    const rendered = deps.renderer.render(message.kind, view);
    store.outbox.add({
      cycleId: cycle.cycleId,
      createdAt,
      status: 'pending',
      kind: message.kind,
      objectGuid: message.object.guid,
      messageId: newMessageId(config.smtp.from),
      envelope: { from: config.smtp.from, to: addresses(message.to), cc: addresses(message.cc) },
      ...rendered,
    });
  }
  return { messages: plan.messages.length, protectedGroups: protectedGroups.map((g) => g.dn) };
}

function addresses(list: readonly Recipient[]): string[] {
  return list.map((r) => r.address);
}

/** Who was told about each object (for its administrators' copy), in one pass. */
function toldByObject(messages: readonly PlannedMessage[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of messages) {
    if (m.kind === 'admin-copy') continue;
    const list = out.get(m.object.guid) ?? [];
    list.push(...m.to.map((r) => r.address));
    out.set(m.object.guid, list);
  }
  return out;
}

function dnValues(object: SnapshotObject, attribute: string | null): Party[] {
  if (attribute === null) return [];
  const entry = Object.entries(object.attributes).find(
    ([name]) => name.toLowerCase() === attribute.toLowerCase(),
  );
  return (entry?.[1] ?? [])
    .filter((v): v is { dn: string; guid: string | null } => typeof v !== 'string' && 'dn' in v)
    .map((v) => ({ guid: v.guid, dn: v.dn }));
}

function text(object: SnapshotObject, attribute: string): string | null {
  const entry = Object.entries(object.attributes).find(
    ([name]) => name.toLowerCase() === attribute.toLowerCase(),
  );
  const value: SnapshotValue | undefined = entry?.[1][0];
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
  if (text(object, 'adminCount') === '1') return true;
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

function factsFor(
  deps: NotifyDeps,
  cycle: CycleOutcome,
  guid: string,
  events: readonly DirectoryEvent[],
  isPublic: boolean,
): ObjectFacts | undefined {
  const { store, config } = deps;
  const ref = events[0]?.object;
  const object = cycle.written?.get(guid) ?? store.getObject(guid) ?? cycle.departed.get(guid)?.object;
  if (!object || !ref) return undefined;
  const isGroup = object.class === 'group';
  return {
    object: ref,
    displayName: text(object, 'displayName'),
    owners: isGroup
      ? [...dnValues(object, 'managedBy'), ...dnValues(object, config.directory.additionalOwnersAttribute)]
      : [],
    managers: isGroup
      ? []
      : [...dnValues(object, 'manager'), ...dnValues(object, config.directory.additionalManagersAttribute)],
    // Only objectModified tells a group's members: do not read a large group otherwise.
    members:
      isGroup && config.notify.objectModified ? membersOf(store, guid, config.notify.expandNestedGroups) : [],
    isPublic,
    isProtected: isProtectedGroup(object, events, config.notify.protectedGroupsExtra),
  };
}

/** A group's members from the snapshot; with `nested`, members of member groups too. */
function membersOf(store: SqliteStore, guid: string, nested: boolean): Party[] {
  const out = new Map<string, Party>();
  const seen = new Set<string>([guid]);
  const visit = (group: string) => {
    for (const m of store.members(group)) {
      const key = m.guid ?? m.dn.toLowerCase();
      if (!out.has(key)) out.set(key, m);
      if (nested && m.guid !== null && !seen.has(m.guid) && store.classOf(m.guid) === 'group') {
        seen.add(m.guid);
        visit(m.guid);
      }
    }
  };
  visit(guid);
  return [...out.values()];
}

/**
 * The groups with membership changes this cycle that match notify.publicGroups, asked of the
 * directory (it evaluates the filter exactly, extensible matches included) in one search.
 */
async function findPublicGroups(
  deps: NotifyDeps,
  cycle: CycleOutcome,
  grouped: ReadonlyMap<string, DirectoryEvent[]>,
): Promise<Set<string>> {
  const found = new Set<string>();
  if (!deps.config.notify.publicGroupOwnerOnMembershipChange) return found;
  const owners = (guid: string) => {
    const object = cycle.written?.get(guid) ?? deps.store.getObject(guid);
    return (
      object !== undefined &&
      dnValues(object, 'managedBy').length +
        dnValues(object, deps.config.directory.additionalOwnersAttribute).length >
        0
    );
  };
  // Only groups with a membership change and someone to tell (an owner) need the answer.
  const candidates = [...grouped]
    .filter(
      ([guid, events]) =>
        !cycle.departed.get(guid)?.deleted &&
        events.some((e) => e.type.startsWith('group.member.')) &&
        owners(guid),
    )
    .map(([guid]) => guid);
  // The default, "(objectClass=group)", makes every group public: nothing to ask.
  if (/^\(\s*objectClass\s*=\s*group\s*\)$/i.test(deps.config.notify.publicGroups.trim())) {
    return new Set(candidates);
  }
  const base = namingContextOf(deps.config.directory.baseDN, cycle.namingContexts);
  for (let i = 0; i < candidates.length; i += PUBLIC_BATCH) {
    const filter = { guids: candidates.slice(i, i + PUBLIC_BATCH), and: deps.config.notify.publicGroups };
    for await (const page of deps.directory.search({ base, filter }))
      for (const entry of page) found.add(entry.guid);
  }
  return found;
}

/** Turns parties into mailboxes, from the snapshot first and the directory for the rest. */
class PeopleDirectory {
  readonly #deps: NotifyDeps;
  readonly #cycle: CycleOutcome;
  readonly #cache = new Map<string, Person | null>();

  constructor(deps: NotifyDeps, cycle: CycleOutcome) {
    this.#deps = deps;
    this.#cycle = cycle;
  }

  nameOf(guid: string | null, dn: string): string {
    const object =
      guid === null
        ? undefined
        : (this.#deps.store.getObject(guid) ?? this.#cycle.departed.get(guid)?.object);
    return (object && text(object, 'displayName')) ?? rdnValue(dn);
  }

  /**
   * The mailboxes for a party: its own mail when mail-enabled and not disabled (a deleted
   * object is never mailed); for a group without mail and `expandGroups`, its members'
   * (nested ones only with expandNestedGroups).
   */
  async mailboxes(party: Party, expandGroups: boolean, depth = 0): Promise<Recipient[]> {
    const person = await this.#lookup(party);
    if (!person || person.deleted) return [];
    if (person.mail !== null && !person.disabled) return [{ address: person.mail, name: person.displayName }];
    if (!expandGroups || person.class !== 'group' || person.mail !== null) return [];
    const out: Recipient[] = [];
    for (const member of person.members) {
      const sub = await this.#lookup(member);
      if (!sub || (sub.class === 'group' && !(this.#deps.config.notify.expandNestedGroups && depth < 10)))
        continue;
      out.push(...(await this.mailboxes(member, true, depth + 1)));
    }
    return out;
  }

  async #lookup(party: Party): Promise<Person | undefined> {
    const key = party.guid ?? `dn:${party.dn.toLowerCase()}`;
    if (this.#cache.has(key)) return this.#cache.get(key) ?? undefined;
    const person = await this.#find(party);
    this.#cache.set(key, person ?? null);
    if (person?.badMail != null) {
      this.#deps.log.warn('not mailed: its mail attribute is not one plain address', {
        dn: person.dn,
        mail: showValue(person.badMail),
      });
    }
    return person;
  }

  async #find(party: Party): Promise<Person | undefined> {
    const { store } = this.#deps;
    if (party.guid !== null) {
      const known = store.getObject(party.guid);
      // Only a group's members are ever needed; do not query them for every person.
      if (known) return fromSnapshot(known, known.class === 'group' ? store.members(party.guid) : [], false);
      const departed = this.#cycle.departed.get(party.guid);
      if (departed) return fromSnapshot(departed.object, [], departed.deleted);
    }
    // Outside the watched scope (a manager in another OU, a member that is not watched).
    try {
      const base = namingContextOf(this.#deps.config.directory.baseDN, this.#cycle.namingContexts);
      const request =
        party.guid !== null
          ? { base, filter: { guids: [party.guid] } }
          : { base: party.dn, scope: 'base' as const, filter: '(objectClass=*)' };
      for await (const page of this.#deps.directory.search(request)) {
        const entry = page[0];
        if (entry) return fromEntry(entry);
      }
    } catch (err: unknown) {
      // Only "no such object" means there is nobody to tell. Any other failure (the DC went
      // away, a timeout, no right to read) fails the cycle: nothing commits, and the next
      // cycle covers the same window, rather than dropping this recipient's mail for good.
      if (!isNoSuchObject(err)) throw err;
      this.#deps.log.warn('a recipient outside the watched scope no longer exists', {
        dn: party.dn,
        err: errorMessage(err),
      });
    }
    return undefined;
  }
}

function mailOf(value: string | null): Pick<Person, 'mail' | 'badMail'> {
  const mail = mailAddress(value);
  return { mail, badMail: mail === null ? value : null };
}

function fromSnapshot(object: SnapshotObject, members: Party[], deleted: boolean): Person {
  const uac = Number(text(object, 'userAccountControl') ?? '0');
  return {
    guid: object.guid,
    dn: object.dn,
    class: object.class,
    ...mailOf(text(object, 'mail')),
    displayName: text(object, 'displayName'),
    disabled: (uac & ACCOUNTDISABLE) !== 0,
    deleted,
    members,
  };
}

function fromEntry(entry: DirectoryEntry): Person {
  return {
    guid: entry.guid,
    dn: entry.dn,
    class: entry.objectClass.at(-1) ?? 'top',
    ...mailOf(textOf(entry, 'mail')),
    displayName: textOf(entry, 'displayName'),
    disabled: (Number(textOf(entry, 'userAccountControl') ?? '0') & ACCOUNTDISABLE) !== 0,
    deleted: entry.deleted,
    members: (entry.members ?? []).map((m) => ({ guid: m.guid, dn: m.dn })),
  };
}
