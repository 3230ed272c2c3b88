/**
 * One poll cycle (docs/design.md, "One poll cycle"; Microsoft, "Polling for Changes Using
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
import { configSecrets } from '../config/load.js';
import { namingContextOf, sameDn } from '../core/dn.js';
import type { DirectoryIdentity } from '../core/types.js';
import type { Deps } from '../deps.js';
import { errorMessage, ReplicationLagError } from '../errors.js';
import { Redactor } from '../log/redact.js';
import type { AttributeSyntaxes } from '../directory/port.js';
import type { CycleLog, DirectoryState } from '../store/ports.js';
import {
  SYNTAXES_CACHE_MS,
  baseline,
  incremental,
  resync,
  type CycleSummary,
  type PollKind,
} from './passes.js';
import { pruneDaily } from './retention.js';
import { notifyLeftOver, SYNTAXES_META, usnSeen } from './steps.js';

export type { CycleSummary, PollKind } from './passes.js';
export { IDLE_CURSOR_SLACK } from './passes.js';

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

export async function runCycle(deps: Deps): Promise<CycleSummary> {
  const { config, directory, store, clock, log } = deps;
  const started = clock.now();
  const state = await store.cycles.directoryState();
  let kind: PollKind = state ? 'incremental' : 'baseline';
  try {
    // Notifications a stopped adnotify left waiting for their actors go first.
    await notifyLeftOver(deps);
    const identity = await directory.identity();
    const scope = JSON.stringify({ baseDN: config.directory.baseDN, filter: config.directory.filter });
    const recordedScope = await store.cycles.getMeta('scope');
    if (state && recordedScope !== undefined && !sameScope(recordedScope, scope)) {
      log.warn(
        'directory.baseDN or directory.filter changed since the snapshot was taken: taking a new baseline (no mail for it)',
        { was: recordedScope, now: scope },
      );
      kind = 'baseline';
    } else if (
      state &&
      (state.dsServiceName !== identity.dsServiceName || state.invocationId !== identity.invocationId)
    ) {
      // Another DC (another database, so another invocationId): has it caught up?
      if (state.dsServiceName !== identity.dsServiceName && state.invocationId !== identity.invocationId) {
        await awaitCaughtUp(deps, state, identity, started);
      }
      log.warn(
        'domain controller or its invocationId changed: reading everything and diffing it against the snapshot',
        {
          was: { dc: state.dsServiceName, invocationId: state.invocationId },
          now: { dc: identity.dsServiceName, invocationId: identity.invocationId },
        },
      );
      kind = 'resync';
    } else if (state && identity.highestCommittedUSN < state.usnCursor) {
      // Tested after a DC change (another DC's USNs are unrelated to the cursor).
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
    }
    const cache = kind === 'incremental' ? await cachedSyntaxes(store.cycles, started) : undefined;
    if (cache) directory.useAttributeSyntaxes(cache);

    const summary =
      kind === 'baseline' || !state
        ? await baseline(deps, identity, started, scope)
        : kind === 'resync'
          ? await resync(deps, identity, state, started, scope)
          : await incremental(deps, identity, state, started, cache === undefined);
    await pruneDaily(config, store, clock.now(), log);
    return summary;
  } catch (err: unknown) {
    const finished = clock.now();
    await store.cycles.setLastRun({
      kind,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      outcome: 'failed',
      events: 0,
      // Kept in the state and shown by `status` long after: no secret of the config in it.
      error: new Redactor(configSecrets(config)).text(errorMessage(err)),
    });
    throw err;
  }
}

/** Since when a move to another DC waits for it to catch up (kept across `once` runs). */
const FAILOVER_WAIT = 'failoverWait';

/** "DC2" for "CN=NTDS Settings,CN=DC2,CN=Servers,...". */
function dcName(dsServiceName: string): string {
  return /^CN=NTDS Settings,CN=([^,]+),/i.exec(dsServiceName)?.[1] ?? dsServiceName;
}

/**
 * Before a resync on another DC: that DC may not hold yet what the previous one had (or the
 * previous one held changes that never replicated). Its up-to-dateness vector says how far it
 * has applied the previous DC's changes; until that reaches the USN the snapshot was read up
 * to, the cycle waits (throws {@link ReplicationLagError}, nothing committed), at most
 * directory.failoverWaitSeconds from the first try; then it goes on, saying reverts may be lag.
 */
async function awaitCaughtUp(
  deps: Deps,
  state: DirectoryState,
  identity: DirectoryIdentity,
  started: Date,
): Promise<void> {
  const { config, directory, store, log } = deps;
  const vector = await directory.upToDateness(
    namingContextOf(config.directory.baseDN, identity.namingContexts),
  );
  if (vector === null) {
    log.info('the domain controller shows no up-to-dateness vector: resyncing without waiting for it', {
      dc: identity.dsServiceName,
    });
    return;
  }
  const reached = vector.get(state.invocationId);
  // What the snapshot reflects of the previous DC: the highest uSNChanged read from it.
  const needed = (await usnSeen(store, state.invocationId)) ?? state.usnCursor;
  const lag = {
    previous: state.dsServiceName,
    dc: identity.dsServiceName,
    needed: needed.toString(),
    reached: reached?.toString() ?? null,
  };
  if (reached !== undefined && reached >= needed) {
    await store.cycles.setMeta(FAILOVER_WAIT, '');
    log.info('the domain controller holds everything the previous one had told', lag);
    return;
  }
  const recorded = await store.cycles.getMeta(FAILOVER_WAIT);
  const wait = recorded ? (JSON.parse(recorded) as { dc: string; since: string }) : null;
  const since = wait?.dc === identity.dsServiceName ? new Date(wait.since) : started;
  if (wait?.dc !== identity.dsServiceName) {
    await store.cycles.setMeta(
      FAILOVER_WAIT,
      JSON.stringify({ dc: identity.dsServiceName, since: since.toISOString() }),
    );
  }
  const limit = config.directory.failoverWaitSeconds;
  const waited = Math.floor((started.getTime() - since.getTime()) / 1000);
  if (waited < limit) {
    log.warn('the domain controller has not caught up with the previous one yet: waiting before resyncing', {
      ...lag,
      waitedSeconds: waited,
      failoverWaitSeconds: limit,
    });
    throw new ReplicationLagError(
      `${dcName(identity.dsServiceName)} has not caught up with ${dcName(state.dsServiceName)} yet (it holds its changes up to USN ${reached ?? 'none'}; adnotify had read changes up to ${needed}): waiting up to ${limit} s (directory.failoverWaitSeconds, ${waited} s so far) before resyncing, so that changes not yet replicated are not told as reverts`,
    );
  }
  await store.cycles.setMeta(FAILOVER_WAIT, '');
  log.warn(
    'the domain controller has still not caught up after directory.failoverWaitSeconds: resyncing all the same; reverts it reports may be replication lag',
    lag,
  );
}

async function cachedSyntaxes(cycles: CycleLog, now: Date): Promise<AttributeSyntaxes | undefined> {
  const text = await cycles.getMeta(SYNTAXES_META);
  if (text === undefined) return undefined;
  try {
    const cached = JSON.parse(text) as { readAt: string } & AttributeSyntaxes;
    if (now.getTime() - Date.parse(cached.readAt) > SYNTAXES_CACHE_MS) return undefined;
    if (!Array.isArray(cached.binary) || !Array.isArray(cached.dn)) return undefined;
    return { binary: cached.binary, dn: cached.dn };
  } catch {
    return undefined;
  }
}
