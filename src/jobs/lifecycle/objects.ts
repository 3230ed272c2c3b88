/**
 * What the directory shows of a schedule's objects, and what follows from it: whether a value
 * is in place, and why a removed member is not put back. Only a tombstone means an object is
 * gone; an object the bind account cannot see is unreadable, not deleted.
 */
import { isDisabled } from '../../core/account.js';
import { textOf, type DirectoryEntry } from '../../core/types.js';
import type { Deps } from '../../deps.js';
import { readByGuids } from '../../directory/lookup.js';
import type { Schedule } from '../../store/ports.js';

/** True when `subject` is among the values of `attribute` of `target` (by GUID, else DN). */
export function holds(
  target: DirectoryEntry,
  attribute: string,
  subject: { guid: string; dn: string },
): boolean {
  const values =
    attribute.toLowerCase() === 'member'
      ? (target.members ?? [])
      : ([...target.attributes].find(([k]) => k.toLowerCase() === attribute.toLowerCase())?.[1] ?? []);
  return values.some(
    (v) =>
      typeof v !== 'string' &&
      !(v instanceof Uint8Array) &&
      (v.guid !== null ? v.guid === subject.guid : v.dn.toLowerCase() === subject.dn.toLowerCase()),
  );
}

/**
 * An object of a schedule as the directory shows it: found, deleted (its tombstone was seen),
 * or unreadable (no entry and no tombstone: a deny-read ACE, or a lost grant of the bind
 * account). Only a tombstone means gone: an object the bind account cannot see is not taken
 * as deleted, or a temporary grant would outlive its schedule.
 */
export type Seen = { entry: DirectoryEntry } | { deleted: true } | { unreadable: true };

export async function readScheduleObjects(
  deps: Deps,
  base: string,
  s: Schedule,
): Promise<{ target: Seen; subject: Seen }> {
  const guids = [s.targetGuid, s.subjectGuid];
  const found = await readByGuids(deps.directory, base, guids);
  const missing = guids.filter((g) => !found.has(g));
  const tombstones =
    missing.length === 0
      ? new Map<string, DirectoryEntry>()
      : await readByGuids(deps.directory, base, missing, { showDeleted: true });
  const seen = (guid: string): Seen => {
    const entry = found.get(guid);
    if (entry && !entry.deleted) return { entry };
    if (entry?.deleted || tombstones.get(guid)?.deleted) return { deleted: true };
    return { unreadable: true };
  };
  return { target: seen(s.targetGuid), subject: seen(s.subjectGuid) };
}

/** Why the end of a temporary removal does not put the member back, or null when it does. */
export function whyNotPutBack(s: Schedule, subject: Seen): string | null {
  if (s.startChanged === false) {
    return 'the member was not in the group when the removal started (someone else had removed it)';
  }
  if ('deleted' in subject) return 'the account has been deleted';
  if ('entry' in subject && isDisabled(textOf(subject.entry, 'userAccountControl'))) {
    return 'the account is disabled';
  }
  return null;
}
