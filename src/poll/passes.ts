/**
 * The three kinds of poll cycle (see cycle.ts): the baseline, the incremental read of what
 * changed since the cursor, and the resync that reads everything and diffs it.
 */
import { changeFilter, fullReadFilter, leftFilter, namingContextOf } from '../core/dn.js';
import { DEFAULT_FILTER } from '../config/schema.js';
import { isContainer, type DirectoryIdentity } from '../core/types.js';
import type { Deps } from '../deps.js';
import { searchByGuids } from '../directory/lookup.js';
import type { DirectoryState } from '../store/ports.js';
import { toSnapshotObject } from '../store/snapshotValues.js';
import { pullAudit } from '../actor/attribute.js';
import {
  applier,
  closeCycle,
  closeFullRead,
  finishAndNotify,
  notifyDeferred,
  recordUsnSeen,
  type DeferredNotice,
  type Objects,
  saveAttributeSyntaxes,
  snapshotPolicy,
} from './steps.js';

export type PollKind = 'baseline' | 'incremental' | 'resync';

export interface CycleSummary {
  kind: PollKind;
  /** Nothing in scope changed: no snapshot rows, no events, no cycle row were written. */
  idle: boolean;
  /** Snapshot objects written (baseline: all of them; otherwise: the changed ones). */
  objects: number;
  groups: number;
  memberships: number;
  containers: number;
  events: number;
  /** Messages queued in the outbox (held ones included). */
  messages: number;
  /** The flood guard held this cycle's messages. */
  held: boolean;
  /** The cycle row the events belong to, when one was written. */
  cycleId: number | null;
  previousCursor: bigint | null;
  cursor: bigint;
  seconds: number;
}

/**
 * An idle cycle keeps its cursor (it writes nothing but the last-run time) unless the window
 * has grown past this many USNs through changes outside the scope: then the cursor moves up
 * so the DC's index scan stays short.
 */
export const IDLE_CURSOR_SLACK = 10_000n;

/** The schema's attribute syntaxes are re-read at least this often (and on every full read). */
export const SYNTAXES_CACHE_MS = 24 * 3600 * 1000;

export async function baseline(
  deps: Deps,
  identity: DirectoryIdentity,
  started: Date,
  scope: string,
): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  const policy = await snapshotPolicy(config, store);
  const counts = { objects: 0, groups: 0, memberships: 0, containers: 0 };
  log.info('baseline started', { dc: identity.dsServiceName, usn: identity.highestCommittedUSN.toString() });
  const cycleId = await store.transaction(async () => {
    await store.snapshot.clear();
    let maxUsn = 0n;
    for await (const page of directory.search({ filter: fullReadFilter(config.directory.filter) })) {
      for (const entry of page) {
        if (entry.usnChanged > maxUsn) maxUsn = entry.usnChanged;
        if (isContainer(entry.objectClass)) {
          await store.snapshot.putContainer(entry.guid, entry.dn);
          counts.containers++;
          continue;
        }
        await store.snapshot.putObject(toSnapshotObject(entry, policy));
        counts.objects++;
        if (entry.members) {
          await store.snapshot.replaceMemberships(entry.guid, entry.members);
          counts.groups++;
          counts.memberships += entry.members.length;
        }
      }
    }
    await recordUsnSeen(store, identity.invocationId, maxUsn);
    // The audit files are taken from their end: changes before the baseline are not reported.
    await pullAudit(deps);
    const finished = await closeFullRead(deps, identity, started, null, scope);
    const id = await store.cycles.begin('baseline', started.toISOString());
    const record = {
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      outcome: 'ok' as const,
      ...counts,
      events: 0,
      error: null,
    };
    await store.cycles.finish(id, record);
    await store.cycles.setLastRun({ kind: 'baseline', startedAt: started.toISOString(), ...record });
    return id;
  });
  const seconds = (clock.now().getTime() - started.getTime()) / 1000;
  log.info('baseline taken', { ...counts, cursor: identity.highestCommittedUSN.toString(), seconds });
  return {
    kind: 'baseline',
    idle: false,
    ...counts,
    events: 0,
    messages: 0,
    held: false,
    cycleId,
    previousCursor: null,
    cursor: identity.highestCommittedUSN,
    seconds,
  };
}

export async function incremental(
  deps: Deps,
  identity: DirectoryIdentity,
  state: DirectoryState,
  started: Date,
  refreshSyntaxes: boolean,
): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  const hcu = identity.highestCommittedUSN;
  const cursor = state.usnCursor;
  let id: number | null = null;
  const cycleId = async () => (id ??= await store.cycles.begin('incremental', started.toISOString()));
  const now = () => clock.now().toISOString();

  const committed = await store.transaction(async () => {
    const apply = await applier(deps, cursor, null, now, cycleId);
    if (hcu > cursor) {
      const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
      const filter = changeFilter(config.directory.filter, cursor, hcu);
      for await (const page of directory.search({ base, filter, showDeleted: true })) {
        await apply.page(page);
      }
      // The default filter is by class, which an object keeps: only another filter can be left
      // by a change (a department); then ask which changed objects no longer match it.
      if (config.directory.filter !== DEFAULT_FILTER) {
        const left = leftFilter(config.directory.filter, cursor, hcu);
        for await (const page of directory.search({ base, filter: left, namesOnly: true })) {
          for (const entry of page) await apply.noLongerMatching(entry);
        }
      }
    }
    const { deferred, ...queued } = await finishAndNotify(
      deps,
      apply,
      cycleId,
      started,
      identity,
      new Date(state.updatedAt),
    );
    // The change search read the schema's attribute syntaxes (the cache was stale): keep them.
    if (refreshSyntaxes && hcu > cursor) await saveAttributeSyntaxes(directory, store, started);
    const finished = clock.now();
    const idle = apply.counts.objects === 0 && apply.counts.containers === 0 && apply.events === 0;
    const advance = !idle || hcu - cursor > IDLE_CURSOR_SLACK;
    if (advance && hcu > cursor) await store.cycles.setCursor(hcu, finished.toISOString());
    const record = await closeCycle(
      store,
      'incremental',
      started,
      finished,
      apply,
      idle ? null : await cycleId(),
    );
    const seconds = record.durationMs / 1000;
    const fields = {
      ...apply.counts,
      events: apply.events,
      cursor: (advance ? hcu : cursor).toString(),
      seconds,
    };
    if (idle) log.debug('nothing changed', fields);
    else log.info('cycle done', fields);
    return {
      kind: 'incremental' as const,
      idle,
      ...apply.counts,
      events: apply.events,
      ...queued,
      cycleId: id,
      previousCursor: cursor,
      cursor: advance && hcu > cursor ? hcu : cursor,
      seconds,
      deferred,
    };
  });
  return afterCommit(deps, committed);
}

/**
 * The cycle has committed: if its notifications wait for actors' audit records, wait for them
 * now, outside the write transaction, and queue them (poll/steps.ts).
 */
async function afterCommit(
  deps: Deps,
  committed: CycleSummary & { deferred: (DeferredNotice & { objects: Objects }) | undefined },
): Promise<CycleSummary> {
  const { deferred, ...summary } = committed;
  if (deferred === undefined) return summary;
  const queued = await notifyDeferred(deps, deferred, deferred.objects);
  return { ...summary, ...queued };
}

export async function resync(
  deps: Deps,
  identity: DirectoryIdentity,
  state: DirectoryState,
  started: Date,
  scope: string,
): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  let id: number | null = null;
  const cycleId = async () => (id ??= await store.cycles.begin('resync', started.toISOString()));
  const now = () => clock.now().toISOString();

  const committed = await store.transaction(async () => {
    // USNs of another DC say nothing about this one: objects are new when created after the
    // last cycle this state recorded.
    const apply = await applier(deps, null, new Date(state.updatedAt), now, cycleId);
    const seen = new Set<string>();
    for await (const page of directory.search({ filter: fullReadFilter(config.directory.filter) })) {
      for (const entry of page) seen.add(entry.guid);
      await apply.page(page);
    }
    // What the snapshot has and the directory did not show: deleted, or moved out of scope.
    const missing = (await store.snapshot.objectGuids()).filter((guid) => !seen.has(guid));
    const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
    for await (const { batch, entries } of searchByGuids(directory, base, missing, { showDeleted: true })) {
      const found = new Set<string>();
      for (const entry of entries) {
        found.add(entry.guid);
        await apply.missing(entry);
      }
      // Not even a tombstone left (garbage-collected): deleted.
      for (const guid of batch) if (!found.has(guid)) await apply.deleted(guid);
    }
    for (const guid of await store.snapshot.containerGuids()) {
      if (!seen.has(guid)) await store.snapshot.deleteContainer(guid);
    }
    const { deferred, ...queued } = await finishAndNotify(
      deps,
      apply,
      cycleId,
      started,
      identity,
      new Date(state.updatedAt),
    );
    const finished = await closeFullRead(deps, identity, started, state.baselineAt, scope);
    const record = await closeCycle(store, 'resync', started, finished, apply, await cycleId());
    const seconds = record.durationMs / 1000;
    log.info('resync done', {
      ...apply.counts,
      events: apply.events,
      missing: missing.length,
      cursor: identity.highestCommittedUSN.toString(),
      seconds,
    });
    return {
      kind: 'resync' as const,
      idle: false,
      ...apply.counts,
      events: apply.events,
      ...queued,
      cycleId: id,
      previousCursor: state.usnCursor,
      cursor: identity.highestCommittedUSN,
      seconds,
      deferred,
    };
  });
  return afterCommit(deps, committed);
}
