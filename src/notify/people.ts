/**
 * Who a party is, and which mailboxes reach it: the one recipient resolver, used by the
 * change notifications and by both jobs. A person is mailed at its `mail` when that is one
 * plain address and the account is not disabled; a deleted object is never mailed; a group
 * may be told through its members.
 *
 * People are looked up in the snapshot first when one is given (a poll cycle: the objects it
 * has just written, and those that left it this cycle), and in the directory otherwise (a
 * manager in another OU, a member that is not watched, anyone a job tells).
 */
import { isDisabled } from '../core/account.js';
import { mailAddress } from '../core/address.js';
import type { Party, Recipient } from '../core/notify.js';
import type { SnapshotObject } from '../core/snapshot.js';
import { textOf, type DirectoryEntry } from '../core/types.js';
import { isNoSuchObject } from '../directory/errors.js';
import { readByGuids } from '../directory/lookup.js';
import type { DirectorySource } from '../directory/port.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { rdnValue, showValue } from '../mail/render.js';
import type { SnapshotStore } from '../store/ports.js';
import { snapshotText } from './facts.js';

/** What is known about a possible recipient. */
export interface Person {
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

/**
 * How a group is told: through its own mail only (`never`), through its members when it has
 * no mail (`without-mail`), or through its members always (`always`: a group made a temporary
 * owner or manager).
 */
export type GroupExpansion = 'never' | 'without-mail' | 'always';

export interface PeopleOptions {
  directory: DirectorySource;
  /** The naming context: people outside the watched base are found too. */
  base: string;
  log: Logger;
  /** Members of member groups are told too (notify.expandNestedGroups). */
  nested: boolean;
  /** A poll cycle's snapshot, looked in first. */
  snapshot?: Pick<SnapshotStore, 'getObject' | 'getObjects' | 'members' | 'classOf'>;
  /** Objects that left the snapshot this cycle, as it last knew them. */
  departed?: ReadonlyMap<string, { object: SnapshotObject; deleted: boolean }>;
}

/** How deep nested groups are followed (a loop of groups stops here). */
const MAX_DEPTH = 10;

/** Objects per snapshot query when reading ahead. */
const PREFETCH = 500;

export class People {
  readonly #o: PeopleOptions;
  readonly #cache = new Map<string, Person | null>();
  /** People whose unusable mail was logged. */
  readonly #warned = new Set<string>();
  /** The displayNames {@link nameOf} gives, of snapshot objects read ahead (see {@link prefetch}). */
  readonly #named = new Map<string, string | null>();

  constructor(options: PeopleOptions) {
    this.#o = options;
  }

  /**
   * Reads the snapshot objects of `guids` a batch at a time, before anyone is looked up: one
   * query per batch instead of one per person (a round trip each on PostgreSQL). Each object
   * is kept only as what is needed of it: its name, so that {@link nameOf} (which a template
   * calls synchronously) gives its displayName, and, for a person, whom it reaches. A group
   * is left to {@link mailboxes}, which reads its members only when it is told through them.
   */
  async prefetch(guids: Iterable<string>): Promise<void> {
    const { snapshot } = this.#o;
    if (!snapshot) return;
    const wanted = [...new Set(guids)].filter((g) => !this.#named.has(g));
    for (let i = 0; i < wanted.length; i += PREFETCH) {
      const slice = wanted.slice(i, i + PREFETCH);
      for (const [guid, object] of await snapshot.getObjects(slice)) {
        this.#named.set(guid, snapshotText(object, 'displayName'));
        if (object.class !== 'group' && !this.#cache.has(guid)) {
          this.#cache.set(guid, personFromSnapshot(object, [], false));
        }
      }
    }
  }

  /** Keeps an entry already read, so that it is not read again. */
  remember(entry: DirectoryEntry): void {
    this.#cache.set(entry.guid, personFromEntry(entry));
  }

  /** The name to show for an object: its displayName when known, else its RDN value. */
  nameOf(guid: string | null, dn: string): string {
    if (guid !== null && this.#named.has(guid)) return this.#named.get(guid) ?? rdnValue(dn);
    const gone = guid === null ? undefined : this.#o.departed?.get(guid)?.object;
    return (gone && snapshotText(gone, 'displayName')) ?? rdnValue(dn);
  }

  /**
   * The mailboxes that reach `party` (none when it cannot be mailed). Each group is expanded
   * once per call, however its members nest: groups nested in a loop would otherwise be
   * walked again on every path through them (exponential in the loop's width).
   */
  async mailboxes(party: Party, expand: GroupExpansion): Promise<Recipient[]> {
    return this.#mailboxes(party, expand, 0, new Set<string>());
  }

  async #mailboxes(
    party: Party,
    expand: GroupExpansion,
    depth: number,
    expanded: Set<string>,
  ): Promise<Recipient[]> {
    const person = await this.#lookup(party);
    if (!person || person.deleted) return [];
    const own =
      person.mail !== null && !person.disabled ? [{ address: person.mail, name: person.displayName }] : [];
    const byMembers =
      person.class === 'group' &&
      (expand === 'always' || (expand === 'without-mail' && person.mail === null));
    if (!byMembers) return own;
    const key = person.guid ?? `dn:${person.dn.toLowerCase()}`;
    if (expanded.has(key)) return [];
    expanded.add(key);
    await this.#membersAhead(person.members);
    const out: Recipient[] = [];
    for (const member of person.members) {
      const sub = await this.#lookup(member);
      if (!sub || (sub.class === 'group' && !(this.#o.nested && depth < MAX_DEPTH))) continue;
      for (const r of await this.#mailboxes(member, 'without-mail', depth + 1, expanded)) out.push(r);
    }
    return out;
  }

  async #lookup(party: Party): Promise<Person | undefined> {
    const key = party.guid ?? `dn:${party.dn.toLowerCase()}`;
    let person = this.#cache.get(key);
    if (person === undefined) {
      person = (await this.#fromSnapshot(party)) ?? (await this.#fromDirectory(party)) ?? null;
      this.#cache.set(key, person);
    }
    // Said when someone is to be told, once: not for a person read ahead only to be named.
    if (person?.badMail != null && !this.#warned.has(key)) {
      this.#warned.add(key);
      this.#o.log.warn('not mailed: its mail attribute is not one plain address', {
        dn: person.dn,
        mail: showValue(person.badMail),
      });
    }
    return person ?? undefined;
  }

  async #fromSnapshot(party: Party): Promise<Person | undefined> {
    const { snapshot, departed } = this.#o;
    if (party.guid === null) return undefined;
    const known = await snapshot?.getObject(party.guid);
    // Only a group's members are ever needed; do not read them for every person.
    if (snapshot && known) {
      const members = known.class === 'group' ? await snapshot.members(party.guid) : [];
      return personFromSnapshot(known, members, false);
    }
    const gone = departed?.get(party.guid);
    return gone && personFromSnapshot(gone.object, [], gone.deleted);
  }

  /** Reads a group's members that are neither cached nor in the snapshot, a batch at a time. */
  async #membersAhead(members: readonly Party[]): Promise<void> {
    const wanted = members
      .map((m) => m.guid)
      .filter(
        (g): g is string =>
          g !== null &&
          !this.#cache.has(g) &&
          (this.#o.snapshot?.classOf(g) ?? null) === null &&
          !this.#o.departed?.has(g),
      );
    if (wanted.length < 2) return;
    const found = await readByGuids(this.#o.directory, this.#o.base, wanted);
    for (const guid of wanted) {
      const entry = found.get(guid);
      this.#cache.set(guid, entry ? personFromEntry(entry) : null);
    }
  }

  async #fromDirectory(party: Party): Promise<Person | undefined> {
    try {
      if (party.guid !== null) {
        const entry = (await readByGuids(this.#o.directory, this.#o.base, [party.guid])).get(party.guid);
        return entry && personFromEntry(entry);
      }
      const request = { base: party.dn, scope: 'base' as const, filter: '(objectClass=*)' };
      for await (const page of this.#o.directory.search(request)) {
        const entry = page[0];
        if (entry) return personFromEntry(entry);
      }
    } catch (err: unknown) {
      // Only "no such object" means there is nobody to tell. Any other failure (the DC went
      // away, a timeout, no right to read) is the caller's: a cycle then commits nothing, and
      // the next one covers the same window, rather than dropping this recipient's mail.
      if (!isNoSuchObject(err)) throw err;
      this.#o.log.warn('a recipient outside the watched scope no longer exists', {
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

function personFromSnapshot(object: SnapshotObject, members: Party[], deleted: boolean): Person {
  return {
    guid: object.guid,
    dn: object.dn,
    class: object.class,
    ...mailOf(snapshotText(object, 'mail')),
    displayName: snapshotText(object, 'displayName'),
    disabled: isDisabled(snapshotText(object, 'userAccountControl')),
    deleted,
    members,
  };
}

function personFromEntry(entry: DirectoryEntry): Person {
  return {
    guid: entry.guid,
    dn: entry.dn,
    class: entry.objectClass.at(-1) ?? 'top',
    ...mailOf(textOf(entry, 'mail')),
    displayName: textOf(entry, 'displayName'),
    disabled: isDisabled(textOf(entry, 'userAccountControl')),
    deleted: entry.deleted,
    members: (entry.members ?? []).map((m) => ({ guid: m.guid, dn: m.dn })),
  };
}
