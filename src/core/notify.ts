/**
 * Who is told about a cycle's events (docs/design.md, "Who is told"), and how those intents
 * become messages: one per recipient per object per cycle, an administrators' copy per
 * object that notified anyone, and the flood guard. Pure: the facts about objects (owners,
 * managers, members, whether a group is public) and the recipients' addresses are looked up
 * by the caller and passed in.
 */
import { actorOfEvent } from './correlate.js';
import type { DirectoryEvent, ObjectRef } from './events.js';

/** Why someone is told; a recipient may hold several reasons for one object. */
export type Reason =
  /** notify.objectModified: the modified user or contact itself */
  | 'self'
  /** notify.objectModified: a member of the modified group */
  | 'member'
  /** notify.ownerManager: the group's primary or additional owner */
  | 'owner'
  /** notify.ownerManager: the user's or contact's manager or additional manager */
  | 'manager'
  /** notify.loggedInUser: who made the change */
  | 'actor'
  /** notify.publicGroupOwnerOnMembershipChange */
  | 'publicOwner'
  /** notify.newMemberOnAdd: the object added to the group */
  | 'added'
  /** notify.removedMemberOnRemoval: the object removed from the group */
  | 'removed';

/** Someone to tell, before their address is known: by GUID, or by DN (an actor). */
export interface Party {
  guid: string | null;
  dn: string;
}

/** What the rules need to know about an object events were recorded for. */
export interface ObjectFacts {
  object: ObjectRef;
  displayName: string | null;
  /** Groups: managedBy and the additional owners. */
  owners: Party[];
  /** Users and contacts: manager and the additional managers. */
  managers: Party[];
  /** Groups: the members after the cycle (nested ones too with expandNestedGroups). */
  members: Party[];
  /** Groups: matches notify.publicGroups. */
  isPublic: boolean;
  /**
   * Groups: protected (adminCount=1 before or after the change, or listed in
   * notify.protectedGroupsExtra): Domain Admins, Enterprise Admins, Administrators, ...
   */
  isProtected: boolean;
}

export interface NotifyOptions {
  loggedInUser: boolean;
  ownerManager: boolean;
  objectModified: boolean;
  publicGroupOwnerOnMembershipChange: boolean;
  newMemberOnAdd: boolean;
  removedMemberOnRemoval: boolean;
}

export interface Intent {
  /** The object the message is about (for membership changes: the group). */
  object: ObjectRef;
  party: Party;
  reasons: Reason[];
}

const partyKey = (p: Party) => p.guid ?? `dn:${p.dn.toLowerCase()}`;

/**
 * The events of a cycle (or anything holding one, `eventOf`) by object GUID, in the order they
 * were recorded.
 */
export function byObject<T = DirectoryEvent>(
  items: readonly T[],
  eventOf: (item: T) => DirectoryEvent = (item) => item as DirectoryEvent,
): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const guid = eventOf(item).object.guid;
    const list = out.get(guid);
    if (list) list.push(item);
    else out.set(guid, [item]);
  }
  return out;
}

/**
 * Everyone to tell about one object's events of a cycle, each once with all their reasons.
 * Creation alone notifies only its creator (loggedInUser: the seed's other options are about
 * changes); a deleted object is never mailed itself, but its owners or manager are told.
 */
export function intentsFor(
  events: readonly DirectoryEvent[],
  facts: ObjectFacts,
  notify: NotifyOptions,
): Intent[] {
  const parties = new Map<string, { party: Party; reasons: Set<Reason> }>();
  const add = (party: Party, reason: Reason) => {
    const key = partyKey(party);
    const entry = parties.get(key) ?? { party, reasons: new Set<Reason>() };
    entry.reasons.add(reason);
    parties.set(key, entry);
  };
  const isGroup = facts.object.class === 'group';
  const deleted = events.some((e) => e.type === 'object.deleted');
  const modified = events.some((e) => e.type === 'object.modified' || e.type === 'object.moved');
  const membership = events.some((e) => e.type === 'group.member.added' || e.type === 'group.member.removed');

  if (notify.objectModified && !deleted) {
    if (!isGroup && modified) add({ guid: facts.object.guid, dn: facts.object.dn }, 'self');
    if (isGroup && (modified || membership)) for (const m of facts.members) add(m, 'member');
  }
  if (notify.ownerManager) {
    if (isGroup && (modified || membership || deleted)) for (const o of facts.owners) add(o, 'owner');
    if (!isGroup && (modified || deleted)) for (const m of facts.managers) add(m, 'manager');
  }
  if (notify.publicGroupOwnerOnMembershipChange && isGroup && membership && facts.isPublic) {
    for (const o of facts.owners) add(o, 'publicOwner');
  }
  for (const event of events) {
    const actor = actorOfEvent(event);
    if (notify.loggedInUser && actor?.dn != null) {
      add({ guid: null, dn: actor.dn }, 'actor');
    }
    if (event.type === 'group.member.added' && notify.newMemberOnAdd) add(event.member, 'added');
    if (event.type === 'group.member.removed' && notify.removedMemberOnRemoval) add(event.member, 'removed');
  }
  return [...parties.values()].map(({ party, reasons }) => ({
    object: facts.object,
    party,
    reasons: [...reasons],
  }));
}

/** A mailbox an intent resolved to (a group without mail resolves to its members'). */
export interface Recipient {
  address: string;
  name: string | null;
}

export interface ResolvedIntent extends Intent {
  recipients: Recipient[];
}

export type MessageKind = 'change' | 'membership' | 'admin-copy';

export interface PlannedMessage {
  kind: MessageKind;
  object: ObjectRef;
  to: Recipient[];
  cc: Recipient[];
  reasons: Reason[];
  /** An administrators' copy about a protected group (notify.protectedGroups). */
  protectedGroup?: true;
}

/**
 * True when notify.protectedGroups must tell the administrators about these events: the
 * object is a protected group and its attributes, name, place or membership changed, or it
 * was deleted.
 */
export function concernsProtectedGroup(events: readonly DirectoryEvent[], facts: ObjectFacts): boolean {
  return (
    facts.object.class === 'group' && facts.isProtected && events.some((e) => e.type !== 'object.created')
  );
}

export interface MessagePlan {
  messages: PlannedMessage[];
  /** More than maxMessagesPerCycle: every message is held and the administrators alerted. */
  held: boolean;
}

/**
 * Messages from resolved intents: one per address per object (all its reasons merged), and
 * one administrators' copy per object that notified anyone (to smtp.to, cc smtp.cc). A
 * recipient told only that they were added to or removed from a group gets the membership
 * message; anyone with another reason gets the full account of the change. Each of
 * `protectedGroups` (changed protected groups, see {@link concernsProtectedGroup}) gets an
 * administrators' copy marked as such, even when nobody else is told.
 */
export function planMessages(
  intents: readonly ResolvedIntent[],
  admins: { to: readonly string[]; cc: readonly string[] },
  maxMessagesPerCycle: number,
  protectedGroups: readonly ObjectRef[] = [],
): MessagePlan {
  const perObject = new Map<string, { object: ObjectRef; byAddress: Map<string, PlannedMessage> }>();
  for (const object of protectedGroups) {
    if (!perObject.has(object.guid)) perObject.set(object.guid, { object, byAddress: new Map() });
  }
  const isProtected = new Set(protectedGroups.map((o) => o.guid));
  for (const intent of intents) {
    const slot = perObject.get(intent.object.guid) ?? {
      object: intent.object,
      byAddress: new Map<string, PlannedMessage>(),
    };
    perObject.set(intent.object.guid, slot);
    for (const recipient of intent.recipients) {
      const key = recipient.address.toLowerCase();
      const message: PlannedMessage = slot.byAddress.get(key) ?? {
        kind: 'membership',
        object: intent.object,
        to: [recipient],
        cc: [],
        reasons: [],
      };
      for (const reason of intent.reasons)
        if (!message.reasons.includes(reason)) message.reasons.push(reason);
      message.kind = message.reasons.every((r) => r === 'added' || r === 'removed') ? 'membership' : 'change';
      slot.byAddress.set(key, message);
    }
  }
  const messages: PlannedMessage[] = [];
  for (const { object, byAddress } of perObject.values()) {
    const protectedGroup = isProtected.has(object.guid);
    if (byAddress.size === 0 && !protectedGroup) continue;
    messages.push(...byAddress.values());
    if (admins.to.length + admins.cc.length > 0) {
      messages.push({
        kind: 'admin-copy',
        object,
        to: admins.to.map((address) => ({ address, name: null })),
        cc: admins.cc.map((address) => ({ address, name: null })),
        reasons: [...new Set([...byAddress.values()].flatMap((m) => m.reasons))],
        ...(protectedGroup ? { protectedGroup: true as const } : {}),
      });
    }
  }
  return { messages, held: messages.length > maxMessagesPerCycle };
}
