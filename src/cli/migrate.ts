/**
 * `adnotify migrate-state --to URL`: copies the configured state (snapshot, cursor, DC
 * identity, history, outbox, job state) to a postgres:// URL or a SQLite file, which must be
 * empty. Then the config is switched to it; the first `once` there is an incremental cycle.
 */
import { resolve } from 'node:path';

import { UsageError } from '../errors.js';
import { copyState } from '../store/copy.js';
import { openStateStore, stateFromTarget, stateLocation } from '../store/open.js';
import type { Context, GlobalOptions } from './context.js';

export async function migrateState(
  ctx: Context,
  global: GlobalOptions,
  options: { to: string },
): Promise<void> {
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) {
    throw new UsageError(`${ctx.statePath(loaded)} does not exist: there is no state to copy`);
  }
  const configured = loaded.config.state;
  const wanted = stateFromTarget(options.to);
  const target =
    wanted.backend === 'postgres' && configured.caFile !== undefined
      ? { ...wanted, caFile: configured.caFile }
      : wanted;
  const from = stateLocation(configured);
  const to = stateLocation(target);
  if (
    from === to ||
    (target.backend === 'sqlite' &&
      configured.backend === 'sqlite' &&
      resolve(target.path) === resolve(configured.path))
  ) {
    throw new UsageError(`--to ${to} is the configured state itself: name another database or file`);
  }
  const source = await ctx.openStore(loaded);
  try {
    const destination = await openStateStore(target);
    try {
      const counts = await copyState(source, destination, { from, to });
      for (const [table, n] of counts) ctx.out(`${table.padEnd(20)} ${n} rows`);
      ctx.out(`copied ${from} to ${to}`);
      ctx.out(
        target.backend === 'postgres'
          ? `next: set state.backend: postgres and state.url (password as "\${env:PGPASSWORD}") in ${loaded.file}, then run "adnotify once": it goes on from cursor, telling nothing twice`
          : `next: set state.backend: sqlite and state.path: ${resolve(target.path)} in ${loaded.file}, then run "adnotify once"`,
      );
    } finally {
      await destination.close();
    }
  } finally {
    await source.close();
  }
}
