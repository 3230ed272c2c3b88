/**
 * Which audit records made an event: matched by object (GUID where the record has it, else
 * DN, before or after a move, else account name), by what changed (the attribute, the member,
 * the creation, deletion or move) and by time (the caller passes only records of the cycle's
 * window). Pure; the records come from the state, the event from the cycle.
 */
import type { AuditRecord } from './audit.js';
import { sameDn } from './dn.js';
import type { Actor, DirectoryEvent } from './events.js';

export type { Actor } from './events.js';

export interface StoredAuditRecord extends AuditRecord {
  id: number;
}

/** The actor of an event as recorded: an Actor, or (before this version) the actor's DN. */
export function actorOfEvent(event: DirectoryEvent): Actor | null {
  const actor: unknown = event.actor;
  if (typeof actor === 'string') return { sid: null, account: null, name: null, dn: actor };
  return event.actor ?? null;
}

function sameObject(
  record: AuditRecord,
  event: DirectoryEvent,
  account: string | null,
  aliases: readonly string[],
): boolean {
  if (record.objectGuid !== null) return record.objectGuid === event.object.guid.toLowerCase();
  const dns = [event.object.dn, ...aliases, ...(event.type === 'object.moved' ? [event.from, event.to] : [])];
  if (record.dn !== null) return dns.some((dn) => sameDn(dn, record.dn ?? ''));
  return (
    record.account !== null && account !== null && record.account.toLowerCase() === account.toLowerCase()
  );
}

function sameMember(record: AuditRecord, member: { guid: string | null; dn: string }): boolean {
  const m = record.member;
  if (m === null) return true;
  if (m.guid !== null && member.guid !== null) return m.guid === member.guid.toLowerCase();
  return m.dn !== null && sameDn(m.dn, member.dn);
}

/**
 * The records that made `event`. For `object.modified`, by attribute (lower case): a change
 * made through several operations, or by several people, keeps each one's records. `aliases`
 * are the object's other DNs this cycle (renamed or moved): a record names the DN of its time.
 */
export function recordsOf(
  event: DirectoryEvent,
  account: string | null,
  records: readonly StoredAuditRecord[],
  aliases: readonly string[] = [],
): Map<string, StoredAuditRecord[]> {
  const out = new Map<string, StoredAuditRecord[]>();
  // Records that name no attribute (a 4738, "a user account was changed"): they stand for any
  // attribute, but only where no record names the attribute itself.
  const generic = new Map<string, StoredAuditRecord[]>();
  const add = (key: string, r: StoredAuditRecord, into = out) => {
    const list = into.get(key) ?? [];
    list.push(r);
    into.set(key, list);
  };
  for (const r of records) {
    if (!sameObject(r, event, account, aliases)) continue;
    switch (event.type) {
      case 'object.created':
        if (r.operation === 'add' || (event.enteredScope === true && r.operation === 'move')) add('', r);
        break;
      case 'object.deleted':
        if (r.operation === 'delete') add('', r);
        break;
      case 'object.moved':
        if (r.operation === 'move') add('', r);
        break;
      case 'object.modified':
        for (const change of event.changes) {
          const attribute = change.attribute.toLowerCase();
          if (r.operation !== 'modify') continue;
          if (r.attribute === null) add(attribute, r, generic);
          else if (r.attribute.toLowerCase() === attribute) add(attribute, r);
        }
        break;
      case 'group.member.added':
        if (r.operation === 'member-add' && sameMember(r, event.member)) add('', r);
        break;
      case 'group.member.removed':
        if (r.operation === 'member-remove' && sameMember(r, event.member)) add('', r);
        break;
      default:
        break;
    }
  }
  for (const [attribute, records] of generic) if (!out.has(attribute)) out.set(attribute, records);
  return out;
}

/** The actor SIDs of some records, the latest last, each once. */
export function actorSids(records: readonly AuditRecord[]): string[] {
  const order = new Set<string>();
  for (const r of [...records].sort((a, b) => a.at.localeCompare(b.at))) {
    order.delete(r.actorSid);
    order.add(r.actorSid);
  }
  return [...order];
}
