/**
 * The steps the three kinds of cycle share: the snapshot policy, the applier, closing a full
 * read, completing the cycle's row, and handing the events to the notifications.
 */
import type { Config } from '../config/schema.js';
import { AttributeSet, BUILTIN_IGNORED_ATTRIBUTES } from '../core/attributes.js';
import { namingContextOf } from '../core/dn.js';
import type { DirectoryIdentity } from '../core/types.js';
import type { Deps } from '../deps.js';
import type { DirectorySource } from '../directory/port.js';
import { attributeActors, pullAudit } from '../actor/attribute.js';
import { queueNotifications, type CycleOutcome, type QueueSummary } from '../notify/queue.js';
import type { StateStore } from '../store/ports.js';
import { redactedAttributes, type SnapshotPolicy } from '../store/snapshotValues.js';
import { ChangeApplier } from './applier.js';

/** The meta key caching the schema's attribute syntaxes between cycles. */
export const SYNTAXES_META = 'attributeSyntaxes';

export async function saveAttributeSyntaxes(
  directory: DirectorySource,
  store: Pick<StateStore, 'cycles'>,
  now: Date,
): Promise<void> {
  const { binary, dn } = await directory.attributeSyntaxes();
  await store.cycles.setMeta(SYNTAXES_META, JSON.stringify({ readAt: now.toISOString(), binary, dn }));
}

export async function snapshotPolicy(
  config: Config,
  store: Pick<StateStore, 'cycles'>,
): Promise<SnapshotPolicy> {
  return {
    redact: redactedAttributes(config.directory.attributes.redact),
    hmacKey: await store.cycles.redactionKey(),
  };
}

export async function applier(
  deps: Deps,
  cursor: bigint | null,
  since: Date | null,
  at: () => string,
  cycleId: () => Promise<number>,
): Promise<ChangeApplier> {
  const { config, store, directory, log } = deps;
  return new ChangeApplier({
    snapshot: store.snapshot,
    events: store.events,
    directory,
    log,
    baseDN: config.directory.baseDN,
    scopeFilter: config.directory.filter,
    policy: await snapshotPolicy(config, store),
    ignore: new AttributeSet([...BUILTIN_IGNORED_ATTRIBUTES, ...config.directory.attributes.ignore]),
    actorAttribute: config.directory.actor.source === 'attribute' ? config.directory.actor.attribute : null,
    cursor,
    since,
    at,
    cycleId,
  });
}

/**
 * After a full read (baseline or resync): the schema's binary attributes, the DC and cursor,
 * and the scope the snapshot was read with. The cursor is the highestCommittedUSN read
 * *before* the search: whatever changed while it ran is read again next time, never skipped.
 */
export async function closeFullRead(
  deps: Deps,
  identity: DirectoryIdentity,
  started: Date,
  baselineAt: string | null,
  scope: string,
): Promise<Date> {
  const { directory, store, clock } = deps;
  await saveAttributeSyntaxes(directory, store, started);
  const finished = clock.now();
  const at = finished.toISOString();
  await store.cycles.setDirectoryState(identity, identity.highestCommittedUSN, at, baselineAt ?? at);
  await store.cycles.setMeta('scope', scope);
  return finished;
}

/** Completes the cycle's row (when it wrote one) and the last-run record. */
export async function closeCycle(
  store: Pick<StateStore, 'cycles'>,
  kind: 'incremental' | 'resync',
  started: Date,
  finished: Date,
  apply: ChangeApplier,
  cycleId: number | null,
): Promise<{ finishedAt: string; durationMs: number; outcome: 'ok'; events: number; error: null }> {
  const record = {
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    outcome: 'ok' as const,
    events: apply.events,
    error: null,
  };
  if (cycleId !== null) await store.cycles.finish(cycleId, { ...record, ...apply.counts });
  await store.cycles.setLastRun({ kind, startedAt: started.toISOString(), ...record });
  return record;
}

/** The meta key of the highest uSNChanged the snapshot reflects, with the DC it is of. */
const USN_SEEN = 'usnSeen';

/**
 * Records that the snapshot reflects the DC `invocationId`'s changes up to `usn` (the highest
 * uSNChanged of an entry read from it). A failover compares the new DC's up-to-dateness
 * vector with this, not with highestCommittedUSN, which also counts changes that do not
 * replicate or are in other naming contexts.
 */
export async function recordUsnSeen(
  store: Pick<StateStore, 'cycles'>,
  invocationId: string,
  usn: bigint,
): Promise<void> {
  if (usn === 0n) return;
  const before = await usnSeen(store, invocationId);
  if (before !== undefined && before >= usn) return;
  await store.cycles.setMeta(USN_SEEN, JSON.stringify({ invocationId, usn: usn.toString() }));
}

/** The highest uSNChanged of the DC `invocationId` the snapshot reflects, when recorded. */
export async function usnSeen(
  store: Pick<StateStore, 'cycles'>,
  invocationId: string,
): Promise<bigint | undefined> {
  const text = await store.cycles.getMeta(USN_SEEN);
  if (text === undefined || text === '') return undefined;
  const seen = JSON.parse(text) as { invocationId: string; usn: string };
  return seen.invocationId === invocationId ? BigInt(seen.usn) : undefined;
}

/** The meta key of a cycle whose notifications wait for their actors' audit records. */
const ACTORS_PENDING = 'actorsPending';

/** A cycle committed with its notifications waiting for the actors of some of its events. */
export interface DeferredNotice {
  cycleId: number;
  since: string;
  when: string;
  namingContexts: string[];
}

/** What the applier knew of the cycle's objects (in memory; absent after a restart). */
export type Objects = Pick<CycleOutcome, 'departed' | 'written'>;

/**
 * Completes the cycle's events, names who made them (directory.actor: the audit records read
 * since the last cycle, `since`), and queues the notifications they call for. When some
 * actors' records have not arrived yet, the notifications are deferred: the cycle commits
 * (releasing the state's write lock, so `temp cancel`, `outbox discard` and the like are never
 * kept waiting) and {@link notifyDeferred} waits for the records and queues them after.
 */
export async function finishAndNotify(
  deps: Deps,
  apply: ChangeApplier,
  cycleId: () => Promise<number>,
  when: Date,
  identity: DirectoryIdentity,
  since: Date,
): Promise<QueueSummary & { deferred?: DeferredNotice & { objects: Objects } }> {
  await apply.finish();
  // How far this DC's changes were read, for a failover's catch-up check (awaitCaughtUp).
  await recordUsnSeen(deps.store, identity.invocationId, apply.maxUsnChanged);
  await pullAudit(deps);
  if (apply.events === 0) return { messages: 0, held: false };
  const deferred: DeferredNotice = {
    cycleId: await cycleId(),
    since: since.toISOString(),
    when: when.toISOString(),
    namingContexts: identity.namingContexts,
  };
  const final = deps.config.directory.actor.waitSeconds === 0;
  const { unknown } = await attributeActors(deps, deferred.cycleId, since, domainOf(deps, deferred), final);
  if (unknown > 0 && !final) {
    deps.log.info('waiting for the audit records of some changes; the cycle commits first', {
      events: unknown,
      waitSeconds: deps.config.directory.actor.waitSeconds,
    });
    await deps.store.cycles.setMeta(ACTORS_PENDING, JSON.stringify(deferred));
    return { messages: 0, held: false, deferred: { ...deferred, objects: apply } };
  }
  return queueNotifications(deps, { ...outcome(deferred), departed: apply.departed, written: apply.written });
}

function domainOf(deps: Pick<Deps, 'config'>, d: DeferredNotice) {
  return {
    namingContext: namingContextOf(deps.config.directory.baseDN, d.namingContexts),
    namingContexts: d.namingContexts,
  };
}

function outcome(d: DeferredNotice): Omit<CycleOutcome, 'departed' | 'written'> {
  return { cycleId: d.cycleId, when: new Date(d.when), namingContexts: d.namingContexts };
}

/**
 * After a cycle committed with deferred notifications: reads the audit files each second,
 * each pass a short transaction of its own, until every actor is named or
 * directory.actor.waitSeconds have passed (a real wait: the DCs write their records as time
 * passes); then records the rest as unknown and queues the cycle's notifications, the flood
 * guard deciding on the whole cycle as ever.
 */
export async function notifyDeferred(
  deps: Deps,
  deferred: DeferredNotice,
  objects: Objects | null,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<QueueSummary> {
  const { store } = deps;
  const since = new Date(deferred.since);
  const domain = domainOf(deps, deferred);
  const deadline =
    performance.now() + (objects === null ? 0 : deps.config.directory.actor.waitSeconds * 1000);
  while (performance.now() < deadline) {
    await sleep(Math.min(1000, Math.max(0, deadline - performance.now())));
    const { unknown } = await store.transaction(async () => {
      await pullAudit(deps, true);
      return attributeActors(deps, deferred.cycleId, since, domain, false);
    });
    if (unknown === 0) break;
  }
  return store.transaction(async () => {
    await pullAudit(deps, true);
    await attributeActors(deps, deferred.cycleId, since, domain, true);
    const queued = await queueNotifications(deps, {
      ...outcome(deferred),
      // After a restart the objects that left the snapshot that cycle are no longer known:
      // their owners and managers are looked up in the directory, where a deleted one is gone.
      departed: objects?.departed ?? new Map(),
      ...(objects?.written ? { written: objects.written } : {}),
    });
    await store.cycles.setMeta(ACTORS_PENDING, '');
    return queued;
  });
}

/**
 * A cycle whose notifications were waiting for their actors when adnotify stopped: named with
 * the records there are, and queued, before the next cycle. Nothing told is lost to a restart.
 */
export async function notifyLeftOver(deps: Deps): Promise<void> {
  const text = await deps.store.cycles.getMeta(ACTORS_PENDING);
  if (text === undefined || text === '') return;
  const deferred = JSON.parse(text) as DeferredNotice;
  deps.log.warn('notifications of a cycle were waiting for their actors when adnotify stopped: queued now', {
    cycle: deferred.cycleId,
  });
  await notifyDeferred(deps, deferred, null);
}
