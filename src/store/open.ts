/**
 * Where the composition root gets its state store: the SQLite file named by state.path, or
 * the PostgreSQL database named by state.url (state.backend). Nothing else knows which.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import type { Config } from '../config/schema.js';
import type { StateStore } from './ports.js';
import { safeUrl } from './postgres/url.js';
import { SqliteStore } from './sqlite/store.js';

/** Where the state is, for people: the file, or the URL without its password. */
export function stateLocation(state: Config['state']): string {
  return state.backend === 'postgres' ? safeUrl(state.url ?? '') : resolve(state.path);
}

/**
 * Whether there is state yet. A database is there once the administrator created it (the
 * schema is made on first open), so only a SQLite file can be missing.
 */
export function stateExists(state: Config['state']): boolean {
  return state.backend === 'postgres' || existsSync(resolve(state.path));
}

export async function openStateStore(state: Config['state']): Promise<StateStore> {
  if (state.backend === 'postgres') {
    // `pg` is loaded only for a PostgreSQL state: a SQLite daemon never needs its memory.
    const { PostgresStore } = await import('./postgres/store.js');
    return PostgresStore.open({ url: state.url ?? '', caFile: state.caFile ?? null });
  }
  return SqliteStore.open(resolve(state.path));
}

/** A state location given on the command line (migrate-state --to): a URL or a file. */
export function stateFromTarget(target: string): Config['state'] {
  return /^postgres(ql)?:\/\//.test(target)
    ? { backend: 'postgres', url: target, path: 'state/adnotify.db', retentionDays: 180 }
    : { backend: 'sqlite', path: target, retentionDays: 180 };
}
