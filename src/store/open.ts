/** Where the composition root gets its state store: the one file named by state.path. */
import type { StateStore } from './ports.js';
import { SqliteStore } from './sqlite/store.js';

export function openStateStore(path: string): StateStore {
  return SqliteStore.open(path);
}
