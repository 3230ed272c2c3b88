/**
 * Naming who made each change of a cycle from the domain controllers' audit records
 * (directory.actor.source samba-audit or windows-events):
 *
 * 1. the audit files are read on from where the last cycle stopped; the records (values
 *    dropped) join those kept from earlier reads, and the new positions commit with the
 *    cycle, so a restart neither re-reads nor skips a record;
 * 2. each event is matched to the unused records of its window (core/correlate.ts); the
 *    actor's SID becomes a person (actor/resolve.ts); a modification by several people is
 *    split into one event each; the records used are not matched again;
 * 3. an event whose record has not arrived waits, the files read again each second, up to
 *    directory.actor.waitSeconds; then it goes out with the actor unknown (null). The waiting
 *    is the caller's (poll/steps.ts), outside the cycle's write transaction.
 *
 * Records that match no event (changes out of scope, noise such as lastLogonTimestamp) are
 * forgotten after an hour.
 */
import { isSid, parseSambaAudit, parseWindowsEvent, untrustedBecause } from '../core/audit.js';
import { actorSids, recordsOf, type StoredAuditRecord } from '../core/correlate.js';
import { normalizeDn } from '../core/dn.js';
import type { Actor, DirectoryEvent } from '../core/events.js';
import type { Deps } from '../deps.js';
import { watchedDomain } from '../directory/domain.js';
import { objectChunks } from '../store/cycleChunks.js';
import { ActorResolver } from './resolve.js';
import { readNewLines } from './tail.js';

/** How far before the last cycle a record may be and still match (DC clocks, slow writers). */
const WINDOW_SLACK_MS = 5 * 60_000;
/**
 * How far ahead of adnotify's clock a record may be dated (Kerberos allows DC clocks five
 * minutes apart). A record dated later is dropped when read: kept, it would wait for, and
 * claim, whatever matching change came next.
 */
const CLOCK_SKEW_MS = 5 * 60_000;
const KEEP_UNMATCHED_MS = 60 * 60_000;
/** The meta key that says the audit files have been read once (later, new files start at 0). */
const STARTED = 'auditStarted';

export function auditSource(deps: Pick<Deps, 'config'>): 'samba-audit' | 'windows-events' | null {
  const { source } = deps.config.directory.actor;
  return source === 'samba-audit' || source === 'windows-events' ? source : null;
}

/**
 * Reads what the audit files gained since the last read into the state; returns how many
 * records. `quiet`: a refused file was already warned about this cycle.
 */
export async function pullAudit(
  deps: Pick<Deps, 'config' | 'store' | 'log' | 'clock'>,
  quiet = false,
): Promise<number> {
  const source = auditSource(deps);
  if (source === null) return 0;
  const { store, config } = deps;
  const parse = source === 'samba-audit' ? parseSambaAudit : parseWindowsEvent;
  const started = (await store.cycles.getMeta(STARTED)) !== undefined;
  let total = 0;
  for (let round = 0; round < 100; round++) {
    const positions = await store.audit.positions();
    const read = readNewLines(config.directory.actor.paths, positions, started, undefined, {
      allowInsecure: config.directory.actor.allowInsecureFiles,
    });
    if (round === 0 && !quiet) {
      for (const { path, reason } of read.refused) {
        deps.log.warn('audit file refused: whoever can write it could name anyone as the actor', {
          path,
          reason,
          fix: 'make it a regular file writable by its owner only, or set directory.actor.allowInsecureFiles: true',
        });
      }
    }
    const latest = new Date(deps.clock.now().getTime() + CLOCK_SKEW_MS).toISOString();
    const records = read.lines.flatMap(parse).filter((r) => {
      if (!isSid(r.actorSid)) {
        // One hostile or damaged line must not fail the cycle, or every retry would read it again.
        deps.log.warn('audit record skipped: its actor SID is malformed', {
          sid: r.actorSid.slice(0, 80),
          at: r.at,
          dn: r.dn,
        });
        return false;
      }
      if (r.at > latest) {
        deps.log.warn('audit record skipped: it is dated in the future (check the clocks of the DCs)', {
          at: r.at,
          dn: r.dn,
        });
        return false;
      }
      return true;
    });
    await store.audit.add(records);
    await store.audit.setPositions(read.positions);
    total += records.length;
    if (!read.more) break;
  }
  if (!started) await store.cycles.setMeta(STARTED, deps.clock.now().toISOString());
  if (total > 0) deps.log.debug('audit records read', { records: total });
  return total;
}

export interface AttributionSummary {
  named: number;
  unknown: number;
}

/**
 * Names the actor of every event `cycleId` recorded that has none yet, from records at or
 * after `since` (the previous cycle's time), a chunk of objects at a time: nothing is kept
 * between chunks or between passes, so a mass change never holds its events in memory. With
 * `final`, what is still unnamed is recorded as unknown (actor null); otherwise it is left for
 * a later pass, when more records may have arrived. No waiting here: the caller waits, outside
 * the cycle's write transaction (poll/steps.ts).
 */
export async function attributeActors(
  deps: Deps,
  cycleId: number,
  since: Date,
  domain: { namingContext: string; namingContexts: readonly string[] },
  final: boolean,
): Promise<AttributionSummary> {
  const source = auditSource(deps);
  if (source === null) return { named: 0, unknown: 0 };
  const { store, config, log } = deps;
  const from = new Date(since.getTime() - WINDOW_SLACK_MS).toISOString();
  await store.audit.prune(new Date(since.getTime() - KEEP_UNMATCHED_MS).toISOString());
  const resolver = new ActorResolver(deps.directory, config.directory.bindDN, domain.namingContext);
  // Forwarded Windows events are believed only from the domain's own DCs (core/audit.ts).
  const watched =
    source === 'windows-events'
      ? await watchedDomain(deps.directory, domain.namingContexts, domain.namingContext)
      : null;
  const records = await store.audit.unused(from);
  const refused =
    watched === null
      ? []
      : records.flatMap((r) => {
          const why = untrustedBecause(r, watched);
          return why === null ? [] : [{ id: r.id, why, computer: r.origin?.computer ?? null }];
        });
  if (refused.length > 0) {
    log.warn('audit records ignored: not logged by a domain controller of the watched domain', {
      records: refused.length,
      first: refused[0],
    });
    // Never matched, and not warned about again.
    await store.audit.markUsed(refused.map((r) => r.id));
  }
  const ignored = new Set(refused.map((r) => r.id));
  const index = indexRecords(records.filter((r) => !ignored.has(r.id)));
  /** Records that made an event of this pass: each makes one only. */
  const used = new Set<number>();
  let named = 0;
  let unknown = 0;
  for await (const chunk of objectChunks(store.events, cycleId)) {
    const open: Recorded[] = [];
    for (const r of await store.events.recordedOfCycle(cycleId, chunk)) {
      if (r.event.type.startsWith('lifecycle.') || 'actor' in r.event) continue;
      // Samba does not log renames and moves (seen on 4.17): no record of one is coming.
      if (source === 'samba-audit' && r.event.type === 'object.moved') {
        await store.events.replace(r.id, { ...r.event, actor: null });
      } else open.push(r);
    }
    const result = await nameAll(deps, resolver, cycleId, open, index, used);
    named += result.named;
    unknown += result.still.length;
    if (final)
      for (const { id, event } of result.still) await store.events.replace(id, { ...event, actor: null });
  }
  if (final && unknown > 0) {
    log.warn('no audit record named who made these changes in time; they go out with the actor unknown', {
      events: unknown,
      waitSeconds: config.directory.actor.waitSeconds,
    });
  }
  return { named, unknown };
}

type Recorded = { id: number; at: string; event: DirectoryEvent };

/** Records by what they name: GUID, DN (normalised) and account name, for one look-up an event. */
type RecordIndex = Map<string, StoredAuditRecord[]>;

function indexRecords(records: readonly StoredAuditRecord[]): RecordIndex {
  const index: RecordIndex = new Map();
  const add = (key: string, r: StoredAuditRecord) => {
    const list = index.get(key);
    if (list) list.push(r);
    else index.set(key, [r]);
  };
  for (const r of records) {
    if (r.objectGuid !== null) add(`g:${r.objectGuid}`, r);
    else if (r.dn !== null) add(`d:${normalizeDn(r.dn)}`, r);
    else if (r.account !== null) add(`a:${r.account.toLowerCase()}`, r);
  }
  return index;
}

/** Names what it can; returns how many, and the events still without a record. */
async function nameAll(
  deps: Deps,
  resolver: ActorResolver,
  cycleId: number,
  events: readonly Recorded[],
  index: RecordIndex,
  used: Set<number>,
): Promise<{ named: number; still: Recorded[] }> {
  // Every DN an object had this cycle: a record names the DN of its time, before a rename.
  const aliases = new Map<string, string[]>();
  for (const { event } of events) {
    if (event.type === 'object.moved') aliases.set(event.object.guid, [event.from, event.to]);
  }
  let named = 0;
  const still: Recorded[] = [];
  for (const recorded of events) {
    const { event } = recorded;
    const dns = aliases.get(event.object.guid) ?? [];
    const account = await accountOf(deps, event.object.guid);
    const candidates = [
      ...(index.get(`g:${event.object.guid.toLowerCase()}`) ?? []),
      ...[event.object.dn, ...dns].flatMap((dn) => index.get(`d:${normalizeDn(dn)}`) ?? []),
      ...(account === null ? [] : (index.get(`a:${account.toLowerCase()}`) ?? [])),
    ];
    const fresh = [...new Set(candidates)].filter((r) => !used.has(r.id));
    const ids = await name(deps, resolver, cycleId, recorded, fresh, dns, account);
    if (ids === null) still.push(recorded);
    else {
      named++;
      for (const id of ids) used.add(id);
    }
  }
  return { named, still };
}

/** The object's sAMAccountName (Windows 47xx events name objects so). */
async function accountOf(deps: Pick<Deps, 'store'>, guid: string): Promise<string | null> {
  const value = (await deps.store.snapshot.getObject(guid))?.attributes['sAMAccountName']?.[0];
  return typeof value === 'string' ? value : null;
}

/** Names one event's actor when its records are there: returns the records used, or null. */
async function name(
  deps: Deps,
  resolver: ActorResolver,
  cycleId: number,
  recorded: Recorded,
  records: readonly StoredAuditRecord[],
  aliases: readonly string[],
  account: string | null,
): Promise<number[] | null> {
  const { store } = deps;
  const { id, at, event } = recorded;
  const found = recordsOf(event, account, records, aliases);
  if (found.size === 0) return null;
  const used = [...found.values()].flat();
  const ids = used.map((r) => r.id);
  await store.audit.markUsed(ids);
  const actorOf = async (list: readonly StoredAuditRecord[]): Promise<Actor | null> => {
    const sid = actorSids(list).at(-1);
    const record = list.find((r) => r.actorSid === sid);
    const actor = sid === undefined ? null : await resolver.resolve(sid, record?.actorAccount ?? null);
    if (actor?.serviceAccount) {
      deps.log.warn("a change was made with adnotify's bind account, not by adnotify: who else uses it?", {
        account: actor.account,
        object: event.object.dn,
        type: event.type,
      });
    }
    return actor;
  };
  if (event.type !== 'object.modified') {
    await store.events.replace(id, { ...event, actor: await actorOf(used) });
    return ids;
  }
  // A modification by several people: one event each, with the changes each one made.
  const byActor = new Map<string, typeof event.changes>();
  for (const change of event.changes) {
    const sid = actorSids(found.get(change.attribute.toLowerCase()) ?? []).at(-1) ?? '';
    byActor.set(sid, [...(byActor.get(sid) ?? []), change]);
  }
  let first = true;
  for (const [sid, changes] of byActor) {
    const list = used.filter((r) => r.actorSid === sid);
    const split = { ...event, changes, actor: sid === '' ? null : await actorOf(list) };
    if (first) await store.events.replace(id, split);
    else await store.events.add(cycleId, at, split);
    first = false;
  }
  return ids;
}
