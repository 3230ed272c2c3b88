/**
 * Protected objects: what AD marks with adminCount=1 (Domain Admins, Administrators, ... and
 * the accounts in them), or what notify.protectedGroupsExtra lists. A change to one grants
 * or withdraws administrative rights, so the administrators always hear of it.
 */
import { sameDn } from './dn.js';
import { textOf, type DirectoryEntry } from './types.js';

/** adminCount=1, or listed in `extra` (notify.protectedGroupsExtra) under its DN. */
export function isProtectedEntry(entry: DirectoryEntry, extra: readonly string[]): boolean {
  return textOf(entry, 'adminCount') === '1' || extra.some((dn) => sameDn(dn, entry.dn));
}
