/**
 * Naming who made each change of a cycle from the domain controllers' audit records
 * (directory.actor.source samba-audit or windows-events), inside the cycle's transaction:
 *
 * 1. the audit files are read on from where the last cycle stopped; the records (values
 *    dropped) join those kept from earlier reads, and the new positions commit with the
 *    cycle, so a restart neither re-reads nor skips a record;
 * 2. each event is matched to the unused records of its window (core/correlate.ts); the
 *    actor's SID becomes a person (actor/resolve.ts); a modification by several people is
 *    split into one event each; the records used are not matched again;
 * 3. an event whose record has not arrived waits, the files read again each second, up to
 *    directory.actor.waitSeconds; then it goes out with the actor unknown (null).
 *
 * Records that match no event (changes out of scope, noise such as lastLogonTimestamp) are
 * forgotten after an hour.
 */
import { parseSambaAudit, parseWindowsEvent } from '../core/audit.js';
import { actorSids, recordsOf, type StoredAuditRecord } from '../core/correlate.js';
import type { Actor, DirectoryEvent } from '../core/events.js';
import type { Deps } from '../deps.js';
import { ActorResolver } from './resolve.js';
import { readNewLines } from './tail.js';

/** How far before the last cycle a record may be and still match (DC clocks, slow writers). */
const WINDOW_SLACK_MS = 5 * 60_000;
const KEEP_UNMATCHED_MS = 60 * 60_000;
/** The meta key that says the audit files have been read once (later, new files start at 0). */
const STARTED = 'auditStarted';

export function auditSource(deps: Pick<Deps, 'config'>): 'samba-audit' | 'windows-events' | null {
  const { source } = deps.config.directory.actor;
  return source === 'samba-audit' || source === 'windows-events' ? source : null;
}

/** Reads what the audit files gained since the last read into the state; returns how many records. */
export function pullAudit(deps: Pick<Deps, 'config' | 'store' | 'log' | 'clock'>): number {
  const source = auditSource(deps);
  if (source === null) return 0;
  const { store, config } = deps;
  const parse = source === 'samba-audit' ? parseSambaAudit : parseWindowsEvent;
  const started = store.cycles.getMeta(STARTED) !== undefined;
  let total = 0;
  for (let round = 0; round < 100; round++) {
    const read = readNewLines(config.directory.actor.paths, store.audit.positions(), started);
    const records = read.lines.flatMap(parse);
    store.audit.add(records);
    store.audit.setPositions(read.positions);
    total += records.length;
    if (!read.more) break;
  }
  if (!started) store.cycles.setMeta(STARTED, deps.clock.now().toISOString());
  if (total > 0) deps.log.debug('audit records read', { records: total });
  return total;
}

export interface AttributionSummary {
  named: number;
  unknown: number;
}

/**
 * Names the actor of every event `cycleId` recorded, from records at or after `since` (the
 * previous cycle's time). Waits for missing records as directory.actor.waitSeconds says;
 * `sleep` is the wait between two reads (tests pass a short one).
 */
export async function attributeActors(
  deps: Deps,
  cycleId: number,
  since: Date,
  namingContext: string,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<AttributionSummary> {
  if (auditSource(deps) === null) return { named: 0, unknown: 0 };
  const { store, config, log } = deps;
  const from = new Date(since.getTime() - WINDOW_SLACK_MS).toISOString();
  store.audit.prune(new Date(since.getTime() - KEEP_UNMATCHED_MS).toISOString());
  const resolver = new ActorResolver(deps.directory, config.directory.bindDN, namingContext);
  const guids = store.events.objectsOfCycle(cycleId).map((o) => o.guid);
  let pending = store.events
    .recordedOfCycle(cycleId, guids)
    .filter((r) => !r.event.type.startsWith('lifecycle.'));
  // Every DN an object had this cycle: a record names the DN of its time, before a rename.
  const aliases = new Map<string, string[]>();
  for (const { event } of pending) {
    if (event.type === 'object.moved') aliases.set(event.object.guid, [event.from, event.to]);
  }
  let named = 0;
  // A real wait (the records are written by the DCs as time passes), not the domain clock.
  const deadline = performance.now() + config.directory.actor.waitSeconds * 1000;
  for (;;) {
    const records = store.audit.unused(from);
    const still: typeof pending = [];
    for (const recorded of pending) {
      const dns = aliases.get(recorded.event.object.guid) ?? [];
      if (await name(deps, resolver, cycleId, recorded, records, dns)) named++;
      else still.push(recorded);
    }
    // Samba does not log renames and moves (seen on 4.17): no record of one is coming.
    pending = [];
    for (const r of still) {
      if (auditSource(deps) === 'samba-audit' && r.event.type === 'object.moved') {
        store.events.replace(r.id, { ...r.event, actor: null });
      } else pending.push(r);
    }
    if (pending.length === 0 || performance.now() >= deadline) break;
    await sleep(1000);
    pullAudit(deps);
  }
  for (const { id, event } of pending) store.events.replace(id, { ...event, actor: null });
  if (pending.length > 0) {
    log.warn('no audit record named who made these changes in time; they go out with the actor unknown', {
      events: pending.length,
      waitSeconds: config.directory.actor.waitSeconds,
    });
  }
  return { named, unknown: pending.length };
}

/** Names one event's actor when its records are there; false when none is. */
async function name(
  deps: Deps,
  resolver: ActorResolver,
  cycleId: number,
  recorded: { id: number; at: string; event: DirectoryEvent },
  records: readonly StoredAuditRecord[],
  aliases: readonly string[],
): Promise<boolean> {
  const { store } = deps;
  const { id, at, event } = recorded;
  const object = store.snapshot.getObject(event.object.guid);
  const accountValue = object?.attributes['sAMAccountName']?.[0];
  const account = typeof accountValue === 'string' ? accountValue : null;
  const found = recordsOf(event, account, records, aliases);
  if (found.size === 0) return false;
  const used = [...found.values()].flat();
  store.audit.markUsed(used.map((r) => r.id));
  const actorOf = async (list: readonly StoredAuditRecord[]): Promise<Actor | null> => {
    const sid = actorSids(list).at(-1);
    const record = list.find((r) => r.actorSid === sid);
    return sid === undefined ? null : resolver.resolve(sid, record?.actorAccount ?? null);
  };
  if (event.type !== 'object.modified') {
    store.events.replace(id, { ...event, actor: await actorOf(used) });
    return true;
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
    if (first) store.events.replace(id, split);
    else store.events.add(cycleId, at, split);
    first = false;
  }
  return true;
}
