/**
 * Active Directory over LDAP (ldapts): TLS as configured, URLs tried in order, paged
 * searches streamed a page at a time, binary attributes by schema, `member` values with
 * their GUIDs (Extended DN control) and followed through ranged retrieval.
 *
 * Longer than most files (about 470 lines) on purpose: it is the one implementation of the
 * directory port, and every operation shares the one connection, its failover across
 * directory.urls, its timeouts and its error mapping; split, each part would need them all.
 */
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

import {
  AlreadyExistsError,
  AndFilter,
  Attribute,
  Change,
  Client,
  NoSuchAttributeError,
  TypeOrValueExistsError,
  UnwillingToPerformError,
  EqualityFilter,
  type Filter,
  FilterParser,
  InsufficientAccessError,
  NoSuchObjectError,
  SizeLimitExceededError,
  OrFilter,
  SearchEntry,
  type Control,
  type Entry,
  type SearchOptions,
} from 'ldapts';

import type { DirectoryConfig } from '../config/schema.js';
import { plainSimpleBind } from '../config/schema.js';
import {
  formatGuid,
  guidBytes,
  memberRefs,
  parseRangeKey,
  KNOWN_DN_ATTRIBUTES,
  entryFromAttributes,
  toValueList,
} from '../core/normalize.js';
import type { DirectoryEntry, DirectoryIdentity, MemberRef } from '../core/types.js';
import { escapeInvisible } from '../core/visible.js';
import {
  AdnotifyError,
  ConfigError,
  DirectoryAuthError,
  DirectoryProtocolError,
  errorMessage,
} from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ExtendedDnControl, NotificationControl, ShowDeletedControl } from './controls.js';
import { classifyLdapError } from './errors.js';
import { parseUpToDateVector } from '../core/upToDateness.js';
import { installLeanEntryReader, leanSearch, readAttributes } from './entryReader.js';
import { installLinearMessageReader } from './messageReader.js';
import type { AttributeSyntaxes, DirectorySource, SearchRequest } from './port.js';

/** Binary syntaxes (MS-ADTS 3.1.1.2.2.2): octet string, SID, NT security descriptor. */
const BINARY_SYNTAXES = ['2.5.5.10', '2.5.5.17', '2.5.5.15'];
/** DN syntaxes (MS-ADTS 3.1.1.2.2.2): Object(DS-DN), Object(DN-Binary), Object(DN-String). */
const DN_SYNTAXES = ['2.5.5.1', '2.5.5.7', '2.5.5.14'];
/** Entries decoded and handed on together: a search's batches (see search()). */
const DECODED_BATCH = 50;

/** Always binary, even before the schema has been read. */
const KNOWN_BINARY = ['objectGUID', 'objectSid', 'invocationId'];

export interface LdapDirectoryOptions {
  config: DirectoryConfig;
  log: Logger;
  /**
   * Read `member` in explicit ranges of this size (`member;range=0-N`) instead of letting
   * the server decide. Active Directory truncates at 1,500 values by itself; Samba never
   * does, so tests and the benchmark set this to exercise the ranged path.
   */
  memberRangeSize?: number;
  /**
   * One search that stays open (change notifications): requests have no time limit of
   * ldapts's, which would end the connection after directory.timeoutSeconds; connecting,
   * StartTLS and the bind keep theirs.
   */
  persistent?: boolean;
}

export class LdapDirectory implements DirectorySource {
  readonly #config: DirectoryConfig;
  readonly #log: Logger;
  readonly #rangeSize: number | undefined;
  readonly #persistent: boolean;
  #client: Client | undefined;
  #url: string | undefined;
  #schemaNamingContext: string | undefined;
  #syntaxes: AttributeSyntaxes | undefined;
  /** The DN-syntax names of {@link #syntaxes}, in lower case, for the entries' values. */
  #dnAttributes: ReadonlySet<string> = KNOWN_DN_ATTRIBUTES;
  /** The binary-syntax names of {@link #syntaxes}, in lower case. */
  #binaryAttributes: ReadonlySet<string> = new Set(KNOWN_BINARY.map((n) => n.toLowerCase()));
  #operations = 0;

  constructor(options: LdapDirectoryOptions) {
    installLinearMessageReader();
    installLeanEntryReader();
    this.#config = options.config;
    this.#log = options.log;
    this.#rangeSize = options.memberRangeSize;
    this.#persistent = options.persistent === true;
  }

  /** LDAP requests sent since construction (bind included): the benchmark reports it. */
  get operations(): number {
    return this.#operations;
  }

  get url(): string | undefined {
    return this.#url;
  }

  async connect(): Promise<void> {
    if (this.#client?.isConnected) return;
    const failures: AdnotifyError[] = [];
    for (const url of this.#config.urls) {
      try {
        this.#client = await this.#open(url);
        this.#url = url;
        this.#log.info('connected to directory', { url });
        return;
      } catch (err: unknown) {
        const classified = classifyLdapError(err, url, 'connect');
        // Wrong credentials are wrong on every DC: trying the next one only counts towards a lockout.
        const final =
          classified instanceof ConfigError ||
          (classified instanceof DirectoryAuthError && classified.step === 'bind');
        if (final) throw classified;
        this.#log.warn('directory unreachable, trying the next URL', { url, err: classified });
        failures.push(classified);
      }
    }
    // Prefer the most actionable failure: a TLS verification error over "unreachable".
    throw failures.find((f) => f instanceof DirectoryAuthError) ?? failures.at(-1) ?? new Error('no URL');
  }

  async #open(url: string): Promise<Client> {
    const config = this.#config;
    if (plainSimpleBind(url, config.startTls) && !config.allowInsecure) {
      throw new ConfigError('directory', [
        {
          path: 'directory.urls',
          message: `${url} would send the bind password in clear text: use ldaps://, set directory.startTls: true, or set directory.allowInsecure: true`,
        },
      ]);
    }
    const timeout = config.timeoutSeconds * 1000;
    const tlsOptions = this.#tlsOptions(url);
    const implicitTls = /^ldaps:\/\//i.test(url);
    // ldapts speaks TLS from the first byte whenever tlsOptions are given, even for ldap://:
    // pass them only for ldaps://, and to startTLS() otherwise.
    const client = new Client({
      url,
      timeout: this.#persistent ? 0 : timeout,
      connectTimeout: timeout,
      strictDN: false,
      ...(implicitTls ? { tlsOptions } : {}),
    });
    const limited = <T>(work: Promise<T>) => (this.#persistent ? within(timeout, work) : work);
    try {
      if (!implicitTls && config.startTls) {
        this.#operations++;
        await limited(client.startTLS(tlsOptions));
      }
      this.#operations++;
      await limited(client.bind(config.bindDN, config.bindPassword));
      return client;
    } catch (err: unknown) {
      await client.unbind().catch(() => undefined);
      throw err;
    }
  }

  #tlsOptions(url: string): ConnectionOptions {
    const { caFile, rejectUnauthorized } = this.#config.tls;
    const options: ConnectionOptions = { rejectUnauthorized, minVersion: 'TLSv1.2' };
    if (caFile !== null) {
      try {
        options.ca = readFileSync(caFile);
      } catch (err: unknown) {
        throw new ConfigError('directory', [
          { path: 'directory.tls.caFile', message: `cannot read ${caFile}: ${errorMessage(err)}` },
        ]);
      }
    }
    // Verify the certificate against the host name in the URL (SNI only for names, not IPs).
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (!/^[\d.]+$/.test(host) && !host.includes(':')) options.servername = host;
    return options;
  }

  async identity(): Promise<DirectoryIdentity> {
    const client = await this.#connected();
    const url = this.#url ?? '';
    const notAd = (cause?: unknown) =>
      new DirectoryProtocolError(
        `${url} is not an Active Directory domain controller: its rootDSE has no highestCommittedUSN or dsServiceName, which adnotify needs to poll for changes (uSNChanged). Point directory.urls at a domain controller (Active Directory or Samba AD DC).`,
        'rootDSE',
        cause === undefined ? undefined : { cause },
      );
    const rootDse = await this.#op('rootDSE', () =>
      client
        .search('', {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: [
            'highestCommittedUSN',
            'dsServiceName',
            'defaultNamingContext',
            'schemaNamingContext',
            'namingContexts',
          ],
          ...this.#limits(),
        })
        .catch((err: unknown) => {
          // A server without a rootDSE answers "no such object" for the empty base.
          throw err instanceof NoSuchObjectError ? notAd(err) : err;
        }),
    );
    const root = rootDse.searchEntries[0];
    const hcu = first(root?.['highestCommittedUSN']);
    const dsServiceName = first(root?.['dsServiceName']);
    if (hcu === undefined || !/^\d+$/.test(hcu) || dsServiceName === undefined) throw notAd();
    this.#schemaNamingContext = first(root?.['schemaNamingContext']);
    const ntds = await this.#op('invocationId', () =>
      client.search(dsServiceName, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['invocationId'],
        explicitBufferAttributes: ['invocationId'],
        ...this.#limits(),
      }),
    );
    const invocation = toValueList(ntds.searchEntries[0]?.['invocationId'])[0];
    if (!(invocation instanceof Uint8Array) || invocation.length !== 16) {
      throw new DirectoryProtocolError(
        `${url}: cannot read invocationId of ${dsServiceName}; the bind account needs read access to the domain controller's NTDS Settings object`,
        'invocationId',
      );
    }
    return {
      url,
      dsServiceName,
      invocationId: formatGuid(invocation),
      highestCommittedUSN: BigInt(hcu),
      defaultNamingContext: first(root?.['defaultNamingContext']) ?? null,
      namingContexts: toValueList(root?.['namingContexts']).filter((v): v is string => typeof v === 'string'),
    };
  }

  async *search(request: SearchRequest): AsyncIterable<DirectoryEntry[]> {
    const client = await this.#connected();
    const { binary } = await this.attributeSyntaxes();
    const dnAttributes = this.#dnAttributes;
    const binaryAttributes = this.#binaryAttributes;
    const memberAttribute =
      this.#rangeSize === undefined ? 'member' : `member;range=0-${this.#rangeSize - 1}`;
    const actor = this.#config.actor.source === 'attribute' ? [this.#config.actor.attribute] : [];
    const options: SearchOptions = {
      scope: request.scope ?? 'sub',
      filter:
        typeof request.filter === 'string'
          ? request.filter
          : guidFilter(request.filter.guids, request.filter.and),
      attributes:
        request.namesOnly === true
          ? ['objectGUID', 'objectClass', 'uSNChanged', 'uSNCreated', 'isDeleted']
          : [
              '*',
              'objectGUID',
              'uSNChanged',
              'uSNCreated',
              'isDeleted',
              ...actor,
              ...(request.attributes ?? []),
              memberAttribute,
            ],
      explicitBufferAttributes: leanSearch(binary),
      paged: { pageSize: this.#config.pageSize },
      ...this.#limits(),
    };
    const controls: Control[] = [new ExtendedDnControl()];
    if (request.showDeleted === true) controls.push(new ShowDeletedControl());
    const base = request.base ?? this.#config.baseDN;
    const pages = client.searchPaginated(base, options, controls);
    // Ask for the next page as soon as one arrives, so that the server prepares it while this
    // one is processed (two pages in memory at most).
    const fetch = () => {
      const promise = pages.next();
      promise.catch(() => undefined); // awaited below; never an unhandled rejection
      return promise;
    };
    let upcoming = fetch();
    for (let number = 1; ; number++) {
      let next: IteratorResult<{ searchEntries: Entry[] }>;
      try {
        next = await upcoming;
      } catch (err: unknown) {
        this.#operations++;
        throw classifyLdapError(err, this.#url ?? '', 'search');
      }
      // The generator ends without another request once the server sends no cookie.
      if (next.done) return;
      this.#operations++;
      upcoming = fetch();
      // Decoded only now, with the next page already asked for (entryReader.ts), and handed
      // on a batch at a time: a batch's entries are garbage before the next is decoded, so they
      // die young rather than being promoted to the old generation with the whole page
      // (measured: 10 MB less peak heap in a 20,000-user baseline).
      const raws = next.value.searchEntries;
      for (let from = 0; from < raws.length; from += DECODED_BATCH) {
        const batch: DirectoryEntry[] = [];
        for (const raw of raws.slice(from, from + DECODED_BATCH)) {
          const { entry, nextMemberRange } = entryFromAttributes(
            raw.dn,
            readAttributes(raw, binaryAttributes),
            dnAttributes,
          );
          if (nextMemberRange !== undefined && entry.members) {
            entry.members.push(...(await this.#remainingMembers(client, entry.dn, nextMemberRange)));
          }
          batch.push(entry);
        }
        yield batch;
      }
      this.#log.debug('read page', { base, page: number, entries: raws.length });
    }
  }

  /**
   * Ranged retrieval (MS-ADTS 3.1.1.3.1.3.3): read `member;range=N-*` (or N-N+size-1)
   * by base search until the server answers with a range ending in `*`.
   */
  async #remainingMembers(client: Client, dn: string, start: number): Promise<MemberRef[]> {
    const out: MemberRef[] = [];
    let next: number | undefined = start;
    while (next !== undefined) {
      const upper: string = this.#rangeSize === undefined ? '*' : String(next + this.#rangeSize - 1);
      const attribute = `member;range=${next}-${upper}`;
      const result = await this.#op('search', () =>
        client.search(
          dn,
          { scope: 'base', filter: '(objectClass=*)', attributes: [attribute], ...this.#limits() },
          [new ExtendedDnControl()],
        ),
      );
      const raw = result.searchEntries[0] ?? { dn };
      const from: number = next;
      next = undefined;
      for (const [key, value] of Object.entries(raw)) {
        const range = parseRangeKey(key, 'member');
        if (!range) continue;
        const refs = memberRefs(value);
        out.push(...refs);
        if (range.end !== '*' && refs.length > 0) next = range.end + 1;
      }
      this.#log.debug('read member range', { dn, from, count: out.length });
    }
    return out;
  }

  async modify(
    dn: string,
    operation: 'add' | 'delete',
    attribute: string,
    values: readonly string[],
  ): Promise<void> {
    const client = await this.#connected();
    this.#operations++;
    try {
      await client.modify(
        dn,
        new Change({ operation, modification: new Attribute({ type: attribute, values: [...values] }) }),
      );
    } catch (err: unknown) {
      if (alreadyInPlace(operation, err)) return;
      throw classifyLdapError(err, this.#url ?? '', 'modify');
    }
  }

  /**
   * Whether the bind account sees any tombstone in the naming context's Deleted Objects
   * container (found by its well-known GUID, MS-ADTS 6.1.1.4). Active Directory lets only
   * administrators list it by default (Samba shows the container but hides what is in it);
   * without that right deletions never appear in the change search. False also when the
   * domain has no tombstone at all, which the caller words as "cannot confirm".
   */
  async tombstonesVisible(namingContext: string): Promise<boolean> {
    const client = await this.#connected();
    this.#operations++;
    try {
      const { searchEntries } = await client.search(
        `<WKGUID=${DELETED_OBJECTS_WKGUID},${namingContext}>`,
        {
          scope: 'one',
          filter: '(isDeleted=TRUE)',
          attributes: ['isDeleted'],
          sizeLimit: 1,
          ...this.#limits(),
        },
        [new ShowDeletedControl()],
      );
      return searchEntries.length > 0;
    } catch (err: unknown) {
      if (err instanceof SizeLimitExceededError) return true; // more than one: visible
      if (err instanceof NoSuchObjectError || err instanceof InsufficientAccessError) return false;
      throw classifyLdapError(err, this.#url ?? '', 'search');
    }
  }

  async upToDateness(namingContext: string): Promise<ReadonlyMap<string, bigint> | null> {
    const client = await this.#connected();
    const head = await this.#op('search', () =>
      client.search(namingContext, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['replUpToDateVector'],
        explicitBufferAttributes: ['replUpToDateVector'],
        ...this.#limits(),
      }),
    );
    const blob = toValueList(head.searchEntries[0]?.['replUpToDateVector'])[0];
    if (!(blob instanceof Uint8Array)) return null;
    try {
      return parseUpToDateVector(blob);
    } catch (err: unknown) {
      this.#log.warn('replUpToDateVector not understood', { err: errorMessage(err) });
      return null;
    }
  }

  /** Supplies the attribute syntaxes (cached from an earlier run): no schema read needed. */
  useAttributeSyntaxes(syntaxes: AttributeSyntaxes): void {
    this.#setSyntaxes(syntaxes.binary, syntaxes.dn);
  }

  #setSyntaxes(binary: Iterable<string>, dn: Iterable<string>): AttributeSyntaxes {
    this.#syntaxes = {
      binary: [...new Set([...KNOWN_BINARY, ...binary])],
      dn: [...new Set([...KNOWN_DN_ATTRIBUTES, ...[...dn].map((n) => n.toLowerCase())])],
    };
    this.#dnAttributes = new Set(this.#syntaxes.dn);
    this.#binaryAttributes = new Set(this.#syntaxes.binary.map((n) => n.toLowerCase()));
    return this.#syntaxes;
  }

  /**
   * lDAPDisplayNames of every attribute with a binary syntax (so binary values arrive as bytes
   * rather than as whatever UTF-8 made of them) and with a DN syntax (so only their values are
   * read as Extended DNs), read from the schema once per connection unless supplied.
   */
  async attributeSyntaxes(): Promise<AttributeSyntaxes> {
    if (this.#syntaxes) return this.#syntaxes;
    const client = await this.#connected();
    const binary = new Set<string>();
    const dn = new Set<string>();
    const schema = this.#schemaNamingContext;
    if (schema !== undefined) {
      const syntaxes = [...BINARY_SYNTAXES, ...DN_SYNTAXES];
      const filter = `(|${syntaxes.map((s) => `(attributeSyntax=${s})`).join('')})`;
      const pages = client.searchPaginated(schema, {
        scope: 'one',
        filter,
        attributes: ['lDAPDisplayName', 'attributeSyntax'],
        paged: { pageSize: 1000 },
        ...this.#limits(),
      });
      try {
        for await (const page of pages) {
          this.#operations++;
          for (const entry of page.searchEntries) {
            const name = first(entry['lDAPDisplayName']);
            const syntax = first(entry['attributeSyntax']);
            if (name === undefined || syntax === undefined) continue;
            (DN_SYNTAXES.includes(syntax) ? dn : binary).add(name);
          }
        }
      } catch (err: unknown) {
        throw classifyLdapError(err, this.#url ?? '', 'search');
      }
    } else {
      this.#log.warn(
        'schema naming context unknown; binary attributes detected by content only, DN attributes from a built-in list',
      );
    }
    return this.#setSyntaxes(binary, dn);
  }

  async #connected(): Promise<Client> {
    await this.connect();
    if (!this.#client) throw new Error('not connected');
    return this.#client;
  }

  async #op<T>(step: 'rootDSE' | 'invocationId' | 'search', run: () => Promise<T>): Promise<T> {
    this.#operations++;
    try {
      return await run();
    } catch (err: unknown) {
      throw classifyLdapError(err, this.#url ?? '', step);
    }
  }

  /** Whether the DC in use lists the control `oid` in its rootDSE supportedControl. */
  async supportsControl(oid: string): Promise<boolean> {
    const rootDse = await this.#rootDse(['supportedControl']);
    return toValueList(rootDse?.['supportedControl']).includes(oid);
  }

  /** `attributes` of the rootDSE, within the request time limit also on a persistent connection. */
  async #rootDse(attributes: string[]): Promise<Entry | undefined> {
    const client = await this.#connected();
    const result = await this.#op('rootDSE', () => {
      const search = client.search('', {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes,
        ...this.#limits(),
      });
      return this.#persistent ? within(this.#config.timeoutSeconds * 1000, search) : search;
    });
    return result.searchEntries[0];
  }

  /**
   * The rootDSE's `supportedControl` list and who made the DC, in one request: its `vendorName`
   * and `vendorVersion` (Samba sends "Samba Team (https://www.samba.org)" and its version);
   * vendor null when it sends neither, as Active Directory.
   */
  async controlsAndVendor(): Promise<{ controls: string[]; vendor: string | null }> {
    const entry = await this.#rootDse(['supportedControl', 'vendorName', 'vendorVersion']);
    const text = (name: string) => toValueList(entry?.[name]).filter((v) => typeof v === 'string');
    // Shown in the log: one line, no hidden characters, and not a page of whatever the DC sent.
    const vendor = escapeInvisible(
      [...text('vendorName'), ...text('vendorVersion')].join(' ').replaceAll(/\s+/g, ' ').trim(),
    ).slice(0, 200);
    return { controls: text('supportedControl'), vendor: vendor === '' ? null : vendor };
  }

  /**
   * The change-notification search (MS-ADTS 3.1.1.3.4.1.9) on `base`, subtree, no attributes:
   * `changed` is called for each entry the DC sends. It never ends by itself: it rejects when
   * the DC refuses it (unwillingToPerform, for a base it does not accept) or the connection
   * ends. Only on a `persistent` directory, whose requests have no time limit.
   */
  async notifications(base: string, changed: () => void): Promise<never> {
    if (!this.#persistent) throw new Error('notifications need a persistent LdapDirectory');
    const client = await this.#connected();
    // ldapts hands a search its entries only when the search ends, and keeps them until then;
    // this one never ends: take each entry from its parser as it arrives and drop the kept one.
    const internals = client as unknown as {
      messageParser: EventEmitter;
      messageDetailsByMessageId: Map<string, { searchEntries?: unknown[] }>;
    };
    const onMessage = (message: unknown) => {
      if (!(message instanceof SearchEntry)) return;
      for (const details of internals.messageDetailsByMessageId.values()) details.searchEntries?.splice(0);
      changed();
    };
    internals.messageParser.on('message', onMessage);
    this.#operations++;
    try {
      await client.search(base, { scope: 'sub', filter: '(objectClass=*)', attributes: ['1.1'] }, [
        new NotificationControl(),
      ]);
    } catch (err: unknown) {
      throw err instanceof UnwillingToPerformError ? err : classifyLdapError(err, this.#url ?? '', 'search');
    } finally {
      internals.messageParser.off('message', onMessage);
    }
    throw new DirectoryProtocolError(`${this.#url ?? ''} ended the change-notification search`, 'search');
  }

  #limits(): Pick<SearchOptions, 'timeLimit'> {
    return { timeLimit: Math.ceil(this.#config.timeoutSeconds) };
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client?.isConnected) await client.unbind().catch(() => undefined);
  }
}

/** objectGUID equality as binary values (ldapts mangles \\xx escapes above 0x7f in strings). */
function guidFilter(guids: readonly string[], and: string | undefined): Filter {
  const any = new OrFilter({
    filters: guids.map(
      (guid) => new EqualityFilter({ attribute: 'objectGUID', value: Buffer.from(guidBytes(guid)) }),
    ),
  });
  return and === undefined ? any : new AndFilter({ filters: [FilterParser.parseString(and), any] });
}

/** `work`, or a rejection after `ms` (for the requests of a persistent connection). */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms / 1000} s`));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function first(value: unknown): string | undefined {
  const v: unknown = Array.isArray(value) ? value[0] : value;
  return typeof v === 'string' ? v : undefined;
}

/** GUID_DELETED_OBJECTS_CONTAINER_W (MS-ADTS 6.1.1.4). */
const DELETED_OBJECTS_WKGUID = '18e2ea80684f11d2b9aa00c04f79f805';

/**
 * True when a modify was refused because its change is already in place. Samba answers 20
 * (attributeOrValueExists) for a value already there and 16 (noSuchAttribute) for one already
 * gone. Windows answers 68 (entryAlreadyExists, "00000562": ERROR_MEMBER_IN_GROUP) and 53
 * (unwillingToPerform, "00000561": ERROR_MEMBER_NOT_IN_GROUP) for group members; 53 means
 * other refusals too, so only with that code.
 * https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes--1300-1699-
 */
export function alreadyInPlace(operation: 'add' | 'delete', err: unknown): boolean {
  if (operation === 'add') return err instanceof TypeOrValueExistsError || err instanceof AlreadyExistsError;
  if (err instanceof NoSuchAttributeError) return true;
  return err instanceof UnwillingToPerformError && /^0*561\b/.test(err.message.trim());
}
