/**
 * migrate-state: every table of one state copied into another, empty one (SQLite to
 * PostgreSQL or back), in one transaction on each side, so that the copy is all or nothing
 * and the source is not written meanwhile. Rows go across as they are, ids, USN cursor,
 * DC identity and redaction key included: the first cycle on the copy is an incremental one
 * and tells nothing that was already told.
 */
import { TemporaryError, UsageError } from '../errors.js';
import { STATE_TABLES, type StateStore, type StateTable } from './ports.js';

const BATCH = 1_000;

export async function copyState(
  from: StateStore,
  to: StateStore,
  names: { from: string; to: string },
): Promise<Map<StateTable, number>> {
  if (from.tables === null || to.tables === null) {
    throw new UsageError('migrate-state copies between SQLite and PostgreSQL states only');
  }
  const source = from.tables;
  const target = to.tables;
  if (!(await target.isEmpty())) {
    throw new UsageError(
      `${names.to} already holds adnotify state: migrate-state copies only into an empty one (a new database, or a file that does not exist yet)`,
    );
  }
  if (from.lease !== null) {
    const { lease } = await from.lease.view(0);
    if (lease.live) {
      throw new TemporaryError(
        `${lease.holder ?? 'an instance'} holds the leader lease of ${names.from} (renewed ${lease.heartbeatAt ?? '?'}): stop every adnotify instance, then copy`,
      );
    }
  }
  const counts = new Map<StateTable, number>();
  // The source's transaction keeps a running instance (SQLite) from writing during the copy.
  await from.transaction(() =>
    to.transaction(async () => {
      for (const table of STATE_TABLES) {
        let n = 0;
        for await (const rows of source.read(table, BATCH)) {
          await target.write(table, rows);
          n += rows.length;
        }
        counts.set(table, n);
      }
    }),
  );
  return counts;
}
