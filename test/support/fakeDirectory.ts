/**
 * A hand-written directory for the app-level tests: entries in memory, a USN that every
 * write bumps, tombstones on delete, and searches that honour the base, the scope, Show
 * Deleted, GUID look-ups and the LDAP filters adnotify sends (parsed by ldapts, evaluated
 * here on every value of an attribute, numerically for USNs). No LDAP: the Samba tests prove
 * the real adapter; these prove what the app does with what a directory answers.
 */
import {
  AndFilter,
  EqualityFilter,
  FilterParser,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  NotFilter,
  OrFilter,
  PresenceFilter,
  type Filter,
} from 'ldapts';

import { isWithin, sameDn } from '../../src/core/dn.js';
import type { AttributeValue, DirectoryEntry, DirectoryIdentity, MemberRef } from '../../src/core/types.js';
import type { AttributeSyntaxes, DirectorySource, SearchRequest } from '../../src/directory/port.js';

export const DOMAIN = 'DC=x,DC=test';
export const BASE = `OU=Staff,${DOMAIN}`;
export const CONFIGURATION = `CN=Configuration,${DOMAIN}`;

let guids = 0;
const newGuid = () => `00000000-0000-4000-8000-${(++guids).toString(16).padStart(12, '0')}`;
/** The domain SID of the fake directory; an object's SID is it plus its RID. */
export const DOMAIN_SID = 'S-1-5-21-1000-2000-3000';
/** Each object's SID by GUID (filters match `(objectSid=S-1-5-...)` as AD does). */
const sidByGuid = new Map<string, string>();

export interface Modify {
  dn: string;
  operation: 'add' | 'delete';
  attribute: string;
  values: readonly string[];
}

export class FakeDirectory implements DirectorySource {
  readonly #entries = new Map<string, DirectoryEntry>();
  #usn = 1000n;
  invocationId = '11111111-1111-4111-8111-111111111111';
  dsServiceName = `CN=NTDS Settings,CN=DC1,CN=Servers,CN=Site,CN=Sites,CN=Configuration,${DOMAIN}`;
  /** objectSid of each object (text), for look-ups by `<SID=...>`. */
  readonly #sids = new Map<string, string>();
  #rid = 1100;
  /** Every modify adnotify sent, in order. */
  readonly modifies: Modify[] = [];
  /** The DC's up-to-dateness vector: how far it has replicated each DC (by invocationId). */
  readonly upToDate = new Map<string, bigint>();
  /** Objects the bind account may not read (a deny-read ACE): no search returns them. */
  readonly unreadable = new Set<string>();
  /** Set to make the next search fail (a DC going away mid-cycle). */
  failNextSearch: Error | null = null;
  searches = 0;

  constructor() {
    this.container('Staff');
    // How AD names attributes to people (a few of the user display specifier's values).
    const users = this.#create(
      `CN=user-Display,CN=409,CN=DisplaySpecifiers,${CONFIGURATION}`,
      ['top', 'displaySpecifier'],
      {
        cn: 'user-Display',
      },
    );
    users.attributes.set('attributeDisplayNames', ['title,Job Title', 'telephoneNumber,Telephone Number']);
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  identity(): Promise<DirectoryIdentity> {
    return Promise.resolve({
      url: 'ldaps://dc1.x.test',
      dsServiceName: this.dsServiceName,
      invocationId: this.invocationId,
      highestCommittedUSN: this.#usn,
      defaultNamingContext: DOMAIN,
      namingContexts: [DOMAIN, CONFIGURATION],
    });
  }

  // -- seeding, as an administrator would change the directory ----------------------------

  container(name: string, parent = DOMAIN): DirectoryEntry {
    return this.#create(`OU=${name},${parent}`, ['top', 'organizationalUnit'], {});
  }

  user(name: string, attributes: Record<string, string | DirectoryEntry> = {}): DirectoryEntry {
    return this.#create(`CN=${name},${BASE}`, ['top', 'person', 'organizationalPerson', 'user'], {
      displayName: name,
      mail: `${name.toLowerCase()}@x.test`,
      userAccountControl: '512',
      ...attributes,
    });
  }

  group(
    name: string,
    members: DirectoryEntry[] = [],
    attributes: Record<string, string | DirectoryEntry> = {},
  ): DirectoryEntry {
    const group = this.#create(`CN=${name},${BASE}`, ['top', 'group'], { displayName: name, ...attributes });
    group.members = members.map(memberRef);
    return group;
  }

  /** Changes attributes (a string, an entry for a DN value, or null to clear). */
  set(entry: DirectoryEntry, attributes: Record<string, string | DirectoryEntry | null>): void {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null) entry.attributes.delete(name);
      else entry.attributes.set(name, [valueOf(value)]);
    }
    this.#touch(entry);
  }

  addMember(group: DirectoryEntry, member: DirectoryEntry): void {
    group.members = [...(group.members ?? []), memberRef(member)];
    this.#touch(group);
  }

  removeMember(group: DirectoryEntry, member: DirectoryEntry): void {
    group.members = (group.members ?? []).filter((m) => m.guid !== member.guid);
    this.#touch(group);
  }

  /** Deletes as AD does: a tombstone in Deleted Objects; groups lose the member silently. */
  delete(entry: DirectoryEntry): void {
    const rdn = entry.dn.slice(0, entry.dn.indexOf(','));
    entry.dn = `${rdn}\\0ADEL:${entry.guid},CN=Deleted Objects,${DOMAIN}`;
    entry.deleted = true;
    for (const other of this.#entries.values()) {
      if (other.members) other.members = other.members.filter((m) => m.guid !== entry.guid);
    }
    this.#touch(entry);
  }

  /**
   * Answers as another DC of the same domain would: its own name, invocationId and USNs
   * (`highestCommittedUSN`), the same objects.
   */
  becomeOtherDc(name: string, highestCommittedUSN: bigint): void {
    this.dsServiceName = this.dsServiceName.replace(/CN=DC\d+/, `CN=${name}`);
    this.invocationId = '33333333-3333-4333-8333-333333333333';
    this.#usn = highestCommittedUSN;
  }

  /** The objectSid an object was given (every user and group has one). */
  sidOf(entry: DirectoryEntry): string {
    const sid = [...this.#sids].find(([, guid]) => guid === entry.guid)?.[0];
    if (sid === undefined) throw new Error(`${entry.dn} has no SID`);
    return sid;
  }

  // -- the port ---------------------------------------------------------------------------

  async *search(request: SearchRequest): AsyncIterable<DirectoryEntry[]> {
    this.searches++;
    await Promise.resolve();
    if (this.failNextSearch) {
      const err = this.failNextSearch;
      this.failNextSearch = null;
      throw err;
    }
    const base = request.base ?? BASE;
    const filter = typeof request.filter === 'string' ? FilterParser.parseString(request.filter) : undefined;
    const guidFilter = typeof request.filter === 'string' ? undefined : request.filter;
    const and = guidFilter?.and === undefined ? undefined : FilterParser.parseString(guidFilter.and);
    const found = [...this.#entries.values()].filter(
      (e) =>
        !this.unreadable.has(e.guid) &&
        (request.showDeleted === true || !e.deleted) &&
        (request.scope === 'base' ? sameDn(e.dn, base) : isWithin(e.dn, base)) &&
        (filter === undefined || matches(filter, e)) &&
        (guidFilter === undefined || guidFilter.guids.includes(e.guid)) &&
        (and === undefined || matches(and, e)),
    );
    // Pages of two, so that paging is exercised.
    for (let i = 0; i < found.length; i += 2) yield found.slice(i, i + 2).map(copy);
  }

  modify(
    dn: string,
    operation: 'add' | 'delete',
    attribute: string,
    values: readonly string[],
  ): Promise<void> {
    this.modifies.push({ dn, operation, attribute, values });
    const target = [...this.#entries.values()].find((e) => sameDn(e.dn, dn));
    if (!target) return Promise.reject(new Error(`no such object: ${dn}`));
    // A value is a DN, or an extended DN "<GUID=...>" as AD accepts in a modify.
    const subjects = values.map((v) =>
      [...this.#entries.values()].find((e) =>
        v.startsWith('<GUID=') ? v === `<GUID=${e.guid}>` : sameDn(e.dn, v),
      ),
    );
    for (const subject of subjects) {
      if (!subject) return Promise.reject(new Error('no such object'));
      if (attribute.toLowerCase() === 'member') {
        if (operation === 'add') this.addMember(target, subject);
        else this.removeMember(target, subject);
        continue;
      }
      const kept = (target.attributes.get(attribute) ?? []).filter(
        (v) => !(typeof v === 'object' && 'kind' in v && v.guid === subject.guid),
      );
      if (operation === 'add') kept.push(valueOf(subject));
      target.attributes.set(attribute, kept);
      this.#touch(target);
    }
    return Promise.resolve();
  }

  upToDateness(): Promise<ReadonlyMap<string, bigint> | null> {
    return Promise.resolve(new Map(this.upToDate));
  }

  tombstonesVisible(): Promise<boolean> {
    return Promise.resolve(true);
  }

  attributeSyntaxes(): Promise<AttributeSyntaxes> {
    return Promise.resolve({ binary: [], dn: [] });
  }

  useAttributeSyntaxes(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }

  #create(
    dn: string,
    objectClass: string[],
    attributes: Record<string, string | DirectoryEntry>,
  ): DirectoryEntry {
    const usn = ++this.#usn;
    const entry: DirectoryEntry = {
      guid: newGuid(),
      dn,
      objectClass,
      usnChanged: usn,
      usnCreated: usn,
      deleted: false,
      attributes: new Map(Object.entries(attributes).map(([k, v]) => [k, [valueOf(v)]])),
    };
    this.#entries.set(entry.guid, entry);
    if (objectClass.includes('user') || objectClass.includes('group')) {
      const sid = `${DOMAIN_SID}-${++this.#rid}`;
      this.#sids.set(sid, entry.guid);
      sidByGuid.set(entry.guid, sid);
      entry.attributes.set('objectSid', [sidBytes(sid)]);
    }
    return entry;
  }

  #touch(entry: DirectoryEntry): void {
    entry.usnChanged = ++this.#usn;
  }
}

/** A SID's bytes (MS-DTYP 2.4.2.2), as a DC returns objectSid. */
function sidBytes(sid: string): Uint8Array {
  const [, revision, authority, ...subs] = sid.split('-').map(Number);
  const bytes = new Uint8Array(8 + subs.length * 4);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, revision ?? 1);
  view.setUint8(1, subs.length);
  view.setUint16(2, 0);
  view.setUint32(4, authority ?? 0);
  subs.forEach((sub, i) => {
    view.setUint32(8 + i * 4, sub, true);
  });
  return bytes;
}

function memberRef(entry: DirectoryEntry): MemberRef {
  return { guid: entry.guid, sid: null, dn: entry.dn };
}

function valueOf(value: string | DirectoryEntry): AttributeValue {
  return typeof value === 'string' ? value : { kind: 'dn', ...memberRef(value) };
}

function copy(entry: DirectoryEntry): DirectoryEntry {
  return {
    ...entry,
    objectClass: [...entry.objectClass],
    attributes: new Map([...entry.attributes].map(([k, v]) => [k, [...v]])),
    ...(entry.members ? { members: entry.members.map((m) => ({ ...m })) } : {}),
  };
}

/** Every value of an attribute as text, as a DC compares them. */
function valuesOf(entry: DirectoryEntry, attribute: string): string[] {
  switch (attribute.toLowerCase()) {
    case 'objectclass':
      return entry.objectClass;
    case 'usnchanged':
      return [entry.usnChanged.toString()];
    case 'isdeleted':
      return entry.deleted ? ['TRUE'] : [];
    case 'member':
      return (entry.members ?? []).map((m) => m.dn);
    case 'objectsid':
      return [sidByGuid.get(entry.guid) ?? ''].filter((v) => v !== '');
    case 'distinguishedname':
      return [entry.dn];
  }
  const values = [...entry.attributes].find(([k]) => k.toLowerCase() === attribute.toLowerCase())?.[1] ?? [];
  return values.map((v) => (typeof v === 'string' ? v : v instanceof Uint8Array ? '' : v.dn));
}

function compare(a: string, b: string): number {
  return /^\d+$/.test(a) && /^\d+$/.test(b) ? Number(BigInt(a) - BigInt(b)) : a.localeCompare(b);
}

function matches(filter: Filter, entry: DirectoryEntry): boolean {
  if (filter instanceof AndFilter) return filter.filters.every((f) => matches(f, entry));
  if (filter instanceof OrFilter) return filter.filters.some((f) => matches(f, entry));
  if (filter instanceof NotFilter) return !matches(filter.filter, entry);
  if (filter instanceof PresenceFilter) return valuesOf(entry, filter.attribute).length > 0;
  if (filter instanceof EqualityFilter) {
    const wanted = String(filter.value).toLowerCase();
    return valuesOf(entry, filter.attribute).some((v) => v.toLowerCase() === wanted);
  }
  if (filter instanceof GreaterThanEqualsFilter)
    return valuesOf(entry, filter.attribute).some((v) => compare(v, filter.value) >= 0);
  if (filter instanceof LessThanEqualsFilter)
    return valuesOf(entry, filter.attribute).some((v) => compare(v, filter.value) <= 0);
  throw new Error(`the fake directory does not evaluate ${filter.toString()}`);
}
