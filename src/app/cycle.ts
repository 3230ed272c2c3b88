/**
 * One poll cycle (DESIGN.md, "Change detection"; Microsoft, "Polling for Changes Using
 * uSNChanged"):
 *
 * - empty state: the baseline. Read every watched object, its memberships and the containers
 *   above it into the snapshot; send nothing.
 * - same DC, same invocationId: read what changed in (cursor, highestCommittedUSN], tombstones
 *   included, diff each entry against the snapshot, and record the events.
 * - another DC, or a restored one (new invocationId): USNs mean nothing across the two, so
 *   read everything and diff it against the snapshot: real differences once, nothing lost.
 *
 * The snapshot rows, the events and the new cursor commit in one SQLite transaction: a cycle
 * that fails part-way commits nothing, and the next cycle covers the same window.
 */
import type { Config } from '../config/schema.js';
import { AttributeSet, BUILTIN_IGNORED_ATTRIBUTES } from '../core/attributes.js';
import type { Clock } from '../core/clock.js';
import { pruneDaily } from './retention.js';
import { changeFilter, fullReadFilter, namingContextOf, sameDn } from '../core/dn.js';
import { isContainer, type DirectoryIdentity } from '../core/types.js';
import type { DirectorySource } from '../directory/port.js';
import type { Renderer } from '../mail/render.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { DirectoryState, SqliteStore } from '../store/sqlite.js';
import { redactedAttributes, toSnapshotObject, type SnapshotPolicy } from '../store/snapshot.js';
import { ChangeApplier } from './apply.js';
import { queueNotifications } from './notifications.js';

export interface CycleDeps {
  config: Config;
  directory: DirectorySource;
  store: SqliteStore;
  clock: Clock;
  log: Logger;
  renderer: Renderer;
}

export type CycleKind = 'baseline' | 'incremental' | 'resync';

export interface CycleSummary {
  kind: CycleKind;
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

/** Two recorded scopes are the same: the same filter, and the same base however it is spelt. */
function sameScope(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const x = JSON.parse(a) as { baseDN?: unknown; filter?: unknown };
    const y = JSON.parse(b) as { baseDN?: unknown; filter?: unknown };
    return (
      typeof x.baseDN === 'string' &&
      typeof y.baseDN === 'string' &&
      sameDn(x.baseDN, y.baseDN) &&
      x.filter === y.filter
    );
  } catch {
    return false;
  }
}

/** The schema's binary attributes are re-read at least this often (and on every full read). */
const BINARY_CACHE_MS = 24 * 3600 * 1000;
/** GUIDs per look-up search when a resync asks what became of objects it did not find. */
const GUID_BATCH = 50;

export async function runCycle(deps: CycleDeps): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  const started = clock.now();
  const state = store.directoryState();
  let kind: CycleKind = state ? 'incremental' : 'baseline';
  try {
    const identity = await directory.identity();
    const scope = JSON.stringify({ baseDN: config.directory.baseDN, filter: config.directory.filter });
    const recordedScope = store.getMeta('scope');
    if (state && recordedScope !== undefined && !sameScope(recordedScope, scope)) {
      log.warn(
        'directory.baseDN or directory.filter changed since the snapshot was taken: taking a new baseline (no mail for it)',
        { was: recordedScope, now: scope },
      );
      kind = 'baseline';
    } else if (state && identity.highestCommittedUSN < state.usnCursor) {
      // Same DC and invocationId, yet its USNs went back: a DC reverted to a VM snapshot
      // without a new invocationId (USN rollback). Waiting for the cursor would skip every
      // change made until the DC's USNs pass it again.
      log.warn(
        'highestCommittedUSN is below the cursor on the same DC and invocationId (USN rollback?): reading everything and diffing it against the snapshot',
        {
          dc: identity.dsServiceName,
          cursor: state.usnCursor.toString(),
          hcu: identity.highestCommittedUSN.toString(),
        },
      );
      kind = 'resync';
    } else if (
      state &&
      (state.dsServiceName !== identity.dsServiceName || state.invocationId !== identity.invocationId)
    ) {
      log.warn(
        'domain controller or its invocationId changed: reading everything and diffing it against the snapshot',
        {
          was: { dc: state.dsServiceName, invocationId: state.invocationId },
          now: { dc: identity.dsServiceName, invocationId: identity.invocationId },
        },
      );
      kind = 'resync';
    }
    const cache = kind === 'incremental' ? cachedBinaryAttributes(store, started) : undefined;
    if (cache) directory.useBinaryAttributes(cache);

    const summary =
      kind === 'baseline' || !state
        ? await baseline(deps, identity, started, scope)
        : kind === 'resync'
          ? await resync(deps, identity, state, started, scope)
          : await incremental(deps, identity, state, started, cache === undefined);
    pruneDaily(config, store, clock.now(), log);
    return summary;
  } catch (err: unknown) {
    const finished = clock.now();
    store.setLastRun({
      kind,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      outcome: 'failed',
      events: 0,
      error: errorMessage(err),
    });
    throw err;
  }
}

function cachedBinaryAttributes(store: SqliteStore, now: Date): string[] | undefined {
  const text = store.getMeta('binaryAttributes');
  if (text === undefined) return undefined;
  try {
    const cached = JSON.parse(text) as { readAt: string; names: string[] };
    if (now.getTime() - Date.parse(cached.readAt) > BINARY_CACHE_MS) return undefined;
    return cached.names;
  } catch {
    return undefined;
  }
}

async function saveBinaryAttributes(
  directory: DirectorySource,
  store: SqliteStore,
  now: Date,
): Promise<void> {
  const names = await directory.binaryAttributes();
  store.setMeta('binaryAttributes', JSON.stringify({ readAt: now.toISOString(), names }));
}

function snapshotPolicy(config: Config, store: SqliteStore): SnapshotPolicy {
  return { redact: redactedAttributes(config.directory.attributes.redact), hmacKey: store.redactionKey() };
}

function applier(
  deps: CycleDeps,
  cursor: bigint | null,
  since: Date | null,
  at: () => string,
  cycleId: () => number,
) {
  const { config, store, directory, log } = deps;
  return new ChangeApplier({
    store,
    directory,
    log,
    baseDN: config.directory.baseDN,
    scopeFilter: config.directory.filter,
    snapshot: snapshotPolicy(config, store),
    ignore: new AttributeSet([...BUILTIN_IGNORED_ATTRIBUTES, ...config.directory.attributes.ignore]),
    actorAttribute: config.directory.actor.source === 'attribute' ? config.directory.actor.attribute : null,
    cursor,
    since,
    at,
    cycleId,
  });
}

/** Completes the cycle's row (when it wrote one) and the last-run record. */
function closeCycle(
  store: SqliteStore,
  kind: 'incremental' | 'resync',
  started: Date,
  finished: Date,
  apply: ChangeApplier,
  cycleId: number | null,
) {
  const record = {
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    outcome: 'ok' as const,
    events: apply.events,
    error: null,
  };
  if (cycleId !== null) store.finishCycle(cycleId, { ...record, ...apply.counts });
  store.setLastRun({ kind, startedAt: started.toISOString(), ...record });
  return record;
}

/** Records the cycle's events and queues the notifications they call for. */
async function finishAndNotify(
  deps: CycleDeps,
  apply: ChangeApplier,
  cycleId: () => number,
  when: Date,
  identity: DirectoryIdentity,
): Promise<{ messages: number; held: boolean }> {
  apply.finish();
  if (apply.events === 0) return { messages: 0, held: false };
  return queueNotifications(deps, {
    cycleId: cycleId(),
    departed: apply.departed,
    written: apply.written,
    when,
    namingContexts: identity.namingContexts,
  });
}

async function baseline(
  deps: CycleDeps,
  identity: DirectoryIdentity,
  started: Date,
  scope: string,
): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  const policy = snapshotPolicy(config, store);
  const counts = { objects: 0, groups: 0, memberships: 0, containers: 0 };
  log.info('baseline started', { dc: identity.dsServiceName, usn: identity.highestCommittedUSN.toString() });
  const cycleId = await store.transaction(async () => {
    store.clearSnapshot();
    for await (const page of directory.search({ filter: fullReadFilter(config.directory.filter) })) {
      for (const entry of page) {
        if (isContainer(entry.objectClass)) {
          store.putContainer(entry.guid, entry.dn);
          counts.containers++;
          continue;
        }
        store.putObject(toSnapshotObject(entry, policy));
        counts.objects++;
        if (entry.members) {
          store.replaceMemberships(entry.guid, entry.members);
          counts.groups++;
          counts.memberships += entry.members.length;
        }
      }
    }
    await saveBinaryAttributes(directory, store, started);
    const finished = clock.now();
    // The cursor is the highestCommittedUSN read *before* the search: whatever changed while
    // it ran is read again next time, never skipped.
    store.setDirectoryState(
      identity,
      identity.highestCommittedUSN,
      finished.toISOString(),
      finished.toISOString(),
    );
    store.setMeta('scope', scope);
    const id = store.beginCycle('baseline', started.toISOString());
    const record = {
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      outcome: 'ok' as const,
      ...counts,
      events: 0,
      error: null,
    };
    store.finishCycle(id, record);
    store.setLastRun({ kind: 'baseline', startedAt: started.toISOString(), ...record });
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

async function incremental(
  deps: CycleDeps,
  identity: DirectoryIdentity,
  state: DirectoryState,
  started: Date,
  refreshBinary: boolean,
): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  const hcu = identity.highestCommittedUSN;
  const cursor = state.usnCursor;
  let id: number | null = null;
  const cycleId = () => (id ??= store.beginCycle('incremental', started.toISOString()));
  const now = () => clock.now().toISOString();

  return store.transaction(async () => {
    const apply = applier(deps, cursor, null, now, cycleId);
    if (hcu > cursor) {
      const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
      const filter = changeFilter(config.directory.filter, cursor, hcu);
      for await (const page of directory.search({ base, filter, showDeleted: true })) {
        for (const entry of page) await apply.entry(entry);
      }
    }
    const queued = await finishAndNotify(deps, apply, cycleId, started, identity);
    // The change search read the schema's binary attributes (the cache was stale): keep them.
    if (refreshBinary && hcu > cursor) await saveBinaryAttributes(directory, store, started);
    const finished = clock.now();
    const idle = apply.counts.objects === 0 && apply.counts.containers === 0 && apply.events === 0;
    const advance = !idle || hcu - cursor > IDLE_CURSOR_SLACK;
    if (advance && hcu > cursor) store.setCursor(hcu, finished.toISOString());
    const record = closeCycle(store, 'incremental', started, finished, apply, idle ? null : cycleId());
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
    };
  });
}

async function resync(
  deps: CycleDeps,
  identity: DirectoryIdentity,
  state: DirectoryState,
  started: Date,
  scope: string,
): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  let id: number | null = null;
  const cycleId = () => (id ??= store.beginCycle('resync', started.toISOString()));
  const now = () => clock.now().toISOString();

  return store.transaction(async () => {
    // USNs of another DC say nothing about this one: objects are new when created after the
    // last cycle this state recorded.
    const apply = applier(deps, null, new Date(state.updatedAt), now, cycleId);
    const seen = new Set<string>();
    for await (const page of directory.search({ filter: fullReadFilter(config.directory.filter) })) {
      for (const entry of page) {
        seen.add(entry.guid);
        await apply.entry(entry);
      }
    }
    // What the snapshot has and the directory did not show: deleted, or moved out of scope.
    const missing = store.objectGuids().filter((guid) => !seen.has(guid));
    const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
    for (let i = 0; i < missing.length; i += GUID_BATCH) {
      const batch = missing.slice(i, i + GUID_BATCH);
      const found = new Set<string>();
      const filter = { guids: batch };
      for await (const page of directory.search({ base, filter, showDeleted: true })) {
        for (const entry of page) {
          found.add(entry.guid);
          apply.missing(entry);
        }
      }
      // Not even a tombstone left (garbage-collected): deleted.
      for (const guid of batch) if (!found.has(guid)) apply.deleted(guid);
    }
    for (const guid of store.containerGuids()) {
      if (!seen.has(guid)) store.deleteContainer(guid);
    }
    const queued = await finishAndNotify(deps, apply, cycleId, started, identity);
    await saveBinaryAttributes(directory, store, started);
    const finished = clock.now();
    store.setDirectoryState(identity, identity.highestCommittedUSN, finished.toISOString(), state.baselineAt);
    store.setMeta('scope', scope);
    const record = closeCycle(store, 'resync', started, finished, apply, cycleId());
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
    };
  });
}
