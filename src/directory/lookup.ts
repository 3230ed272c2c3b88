/**
 * Reading objects by objectGUID, a batch of GUIDs per search (one OR filter each): what a
 * resync asks about objects it did not find, and what the jobs and notifications ask about
 * people outside the watched scope.
 */
import type { DirectoryEntry } from '../core/types.js';
import type { DirectorySource } from './port.js';

/** GUIDs per search: long enough to save round trips, short enough for any DC's filter limit. */
export const GUID_BATCH = 50;

/** Each batch of GUIDs with the entries found for it (tombstones too with `showDeleted`). */
export async function* searchByGuids(
  directory: DirectorySource,
  base: string,
  guids: readonly string[],
  options: { showDeleted?: boolean } = {},
): AsyncGenerator<{ batch: string[]; entries: DirectoryEntry[] }> {
  for (let i = 0; i < guids.length; i += GUID_BATCH) {
    const batch = guids.slice(i, i + GUID_BATCH);
    const entries: DirectoryEntry[] = [];
    const request = { base, filter: { guids: batch }, ...(options.showDeleted ? { showDeleted: true } : {}) };
    for await (const page of directory.search(request)) entries.push(...page);
    yield { batch, entries };
  }
}

/** The objects found for these GUIDs, by GUID (tombstones too with `showDeleted`). */
export async function readByGuids(
  directory: DirectorySource,
  base: string,
  guids: readonly string[],
  options: { showDeleted?: boolean } = {},
): Promise<Map<string, DirectoryEntry>> {
  const out = new Map<string, DirectoryEntry>();
  for await (const { entries } of searchByGuids(directory, base, guids, options)) {
    for (const entry of entries) out.set(entry.guid, entry);
  }
  return out;
}
