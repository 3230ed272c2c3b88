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
import { queueNotifications } from '../notify/queue.js';
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
  store.cycles.setMeta(SYNTAXES_META, JSON.stringify({ readAt: now.toISOString(), binary, dn }));
}

export function snapshotPolicy(config: Config, store: Pick<StateStore, 'cycles'>): SnapshotPolicy {
  return {
    redact: redactedAttributes(config.directory.attributes.redact),
    hmacKey: store.cycles.redactionKey(),
  };
}

export function applier(
  deps: Deps,
  cursor: bigint | null,
  since: Date | null,
  at: () => string,
  cycleId: () => number,
) {
  const { config, store, directory, log } = deps;
  return new ChangeApplier({
    snapshot: store.snapshot,
    events: store.events,
    directory,
    log,
    baseDN: config.directory.baseDN,
    scopeFilter: config.directory.filter,
    policy: snapshotPolicy(config, store),
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
  store.cycles.setDirectoryState(identity, identity.highestCommittedUSN, at, baselineAt ?? at);
  store.cycles.setMeta('scope', scope);
  return finished;
}

/** Completes the cycle's row (when it wrote one) and the last-run record. */
export function closeCycle(
  store: Pick<StateStore, 'cycles'>,
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
  if (cycleId !== null) store.cycles.finish(cycleId, { ...record, ...apply.counts });
  store.cycles.setLastRun({ kind, startedAt: started.toISOString(), ...record });
  return record;
}

/**
 * Completes the cycle's events, names who made them (directory.actor: the audit records read
 * since the last cycle, `since`), and queues the notifications they call for.
 */
export async function finishAndNotify(
  deps: Deps,
  apply: ChangeApplier,
  cycleId: () => number,
  when: Date,
  identity: DirectoryIdentity,
  since: Date,
): Promise<{ messages: number; held: boolean }> {
  apply.finish();
  pullAudit(deps);
  if (apply.events === 0) return { messages: 0, held: false };
  await attributeActors(deps, cycleId(), since, {
    namingContext: namingContextOf(deps.config.directory.baseDN, identity.namingContexts),
    namingContexts: identity.namingContexts,
  });
  return queueNotifications(deps, {
    cycleId: cycleId(),
    departed: apply.departed,
    written: apply.written,
    when,
    namingContexts: identity.namingContexts,
  });
}
