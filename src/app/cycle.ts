/**
 * One poll cycle. On an empty state this is the baseline: read every watched object,
 * its memberships and the containers above it into the snapshot, record the DC, its
 * invocationId and the highestCommittedUSN read *before* the search (so nothing changed
 * during the search is skipped next time), and send nothing.
 */
import type { Config } from '../config/schema.js';
import { AttributeSet } from '../core/attributes.js';
import type { Clock } from '../core/clock.js';
import { isContainer } from '../core/types.js';
import type { DirectorySource } from '../directory/port.js';
import { AdnotifyError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { toSnapshotObject } from '../store/snapshot.js';
import type { SqliteStore } from '../store/sqlite.js';

export interface CycleDeps {
  config: Config;
  directory: DirectorySource;
  store: SqliteStore;
  clock: Clock;
  log: Logger;
}

export interface CycleSummary {
  kind: 'baseline';
  objects: number;
  groups: number;
  memberships: number;
  containers: number;
  events: number;
  cursor: bigint;
  seconds: number;
}

export class IncrementalNotAvailableError extends AdnotifyError {}

export async function runCycle(deps: CycleDeps): Promise<CycleSummary> {
  const state = deps.store.directoryState();
  if (state) {
    throw new IncrementalNotAvailableError(
      `the state already holds a baseline (taken ${state.baselineAt} from ${state.url}); incremental change detection is not in this version yet. Delete ${deps.config.state.path} to take a new baseline.`,
    );
  }
  return baseline(deps);
}

async function baseline({ config, directory, store, clock, log }: CycleDeps): Promise<CycleSummary> {
  const started = clock.now();
  const policy = { redact: new AttributeSet(config.directory.attributes.redact) };
  const counts = { objects: 0, groups: 0, memberships: 0, containers: 0 };
  try {
    const identity = await directory.identity();
    log.info('baseline started', {
      dc: identity.dsServiceName,
      usn: identity.highestCommittedUSN.toString(),
    });
    const filter = `(|${config.directory.filter}(objectClass=organizationalUnit)(objectClass=container))`;
    await store.transaction(async () => {
      for await (const page of directory.search({ filter })) {
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
      const finished = clock.now();
      store.setDirectoryState(
        identity,
        identity.highestCommittedUSN,
        finished.toISOString(),
        finished.toISOString(),
      );
      store.recordCycle({
        kind: 'baseline',
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
        outcome: 'ok',
        ...counts,
        events: 0,
        error: null,
      });
    });
    const seconds = (clock.now().getTime() - started.getTime()) / 1000;
    log.info('baseline taken', { ...counts, cursor: identity.highestCommittedUSN.toString(), seconds });
    return { kind: 'baseline', ...counts, events: 0, cursor: identity.highestCommittedUSN, seconds };
  } catch (err: unknown) {
    const finished = clock.now();
    store.recordCycle({
      kind: 'baseline',
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      outcome: 'failed',
      objects: 0,
      groups: 0,
      memberships: 0,
      events: 0,
      error: errorMessage(err),
    });
    throw err;
  }
}
