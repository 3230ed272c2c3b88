/**
 * Who a SID is: the DC itself (S-1-5-18), or a person or service account read from the
 * directory by objectSid, with name, account and DN, marked when it is adnotify's own bind
 * account; each SID is read once per cycle.
 */
import { isSid, SYSTEM_SID } from '../core/audit.js';
import { escapeFilterValue } from '../core/dn.js';
import type { Actor } from '../core/events.js';
import { formatSid } from '../core/normalize.js';
import { textOf, type DirectoryEntry } from '../core/types.js';
import { isNoSuchObject } from '../directory/errors.js';
import type { DirectorySource } from '../directory/port.js';
import { rdnValue } from '../mail/render.js';

export class ActorResolver {
  readonly #directory: DirectorySource;
  readonly #bindDN: string;
  readonly #base: string;
  readonly #cache = new Map<string, Actor>();
  #bindSid: string | null | undefined;

  /** `base`: the naming context, where people are looked for by objectSid. */
  constructor(directory: DirectorySource, bindDN: string, base: string) {
    this.#directory = directory;
    this.#bindDN = bindDN;
    this.#base = base;
  }

  /** `account` is DOMAIN\account when the record named it (Windows events). */
  async resolve(sid: string, account: string | null): Promise<Actor> {
    const cached = this.#cache.get(sid);
    if (cached) return cached;
    let actor: Actor;
    if (!isSid(sid)) {
      // Records are checked when read; this keeps any other caller's SID out of the filter.
      actor = { sid, account, name: null, dn: null };
    } else if (sid === SYSTEM_SID) {
      actor = { sid, account: 'NT AUTHORITY\\SYSTEM', name: 'the domain controller', dn: null };
    } else {
      const entry = await this.#find(`(objectSid=${escapeFilterValue(sid)})`);
      actor = entry
        ? {
            sid,
            account: account ?? textOf(entry, 'sAMAccountName'),
            name: textOf(entry, 'displayName') ?? rdnValue(entry.dn),
            dn: entry.dn,
            ...(sid === (await this.#ownSid()) ? { serviceAccount: true as const } : {}),
          }
        : { sid, account, name: null, dn: null };
    }
    this.#cache.set(sid, actor);
    return actor;
  }

  /**
   * The bind account's objectSid, to mark it as adnotify's service account. directory.bindDN
   * may be a DN, a userPrincipalName or DOMAIN\\account.
   */
  async #ownSid(): Promise<string | null> {
    if (this.#bindSid !== undefined) return this.#bindSid;
    const bind = this.#bindDN;
    const escaped = escapeFilterValue(bind.includes('\\') ? bind.slice(bind.lastIndexOf('\\') + 1) : bind);
    const filter = /^[A-Za-z][\w-]*=/.test(bind)
      ? `(distinguishedName=${escaped})`
      : `(|(userPrincipalName=${escaped})(sAMAccountName=${escaped}))`;
    const entry = await this.#find(filter);
    const value = entry?.attributes.get('objectSid')?.[0];
    this.#bindSid = value instanceof Uint8Array ? formatSid(value) : null;
    return this.#bindSid;
  }

  /** The one object matching `filter` in the naming context (AD and Samba take objectSid as text). */
  async #find(filter: string): Promise<DirectoryEntry | undefined> {
    try {
      for await (const page of this.#directory.search({ base: this.#base, filter })) {
        if (page[0]) return page[0];
      }
    } catch (err: unknown) {
      if (!isNoSuchObject(err)) throw err;
    }
    return undefined;
  }
}
