/**
 * Naming the objects of a schedule: `temp add` finds a group, user, member or owner by DN,
 * sAMAccountName, userPrincipalName or mail; and which attribute each kind of schedule changes.
 */
import type { Config } from '../../config/schema.js';
import { escapeFilterValue } from '../../core/dn.js';
import type { DirectoryEntry } from '../../core/types.js';
import { isNoSuchObject } from '../../directory/errors.js';
import type { DirectorySource } from '../../directory/port.js';
import { AdnotifyError } from '../../errors.js';
import type { ScheduleKind } from '../../store/ports.js';

export class LookupError extends AdnotifyError {}

/** The attribute a kind of schedule changes. */
export function attributeFor(kind: ScheduleKind, config: Config): string {
  if (kind === 'member' || kind === 'removal') return 'member';
  if (kind === 'owner') return config.directory.additionalOwnersAttribute;
  const attribute = config.directory.additionalManagersAttribute;
  if (attribute === null) {
    throw new LookupError(
      'directory.additionalManagersAttribute is null: set it to the multi-valued DN attribute that holds additional managers (e.g. secretary) to schedule temporary managers',
    );
  }
  return attribute;
}

/**
 * Finds one object by DN, sAMAccountName, userPrincipalName or mail. No match, or more than
 * one, is an error that says what matched.
 */
export async function resolveName(
  directory: DirectorySource,
  base: string,
  name: string,
): Promise<DirectoryEntry> {
  const isDn = /^[A-Za-z][\w-]*=.+/.test(name) && name.includes(',');
  const escaped = escapeFilterValue(name);
  const request = isDn
    ? { base: name, scope: 'base' as const, filter: '(objectClass=*)' }
    : { base, filter: `(|(sAMAccountName=${escaped})(userPrincipalName=${escaped})(mail=${escaped}))` };
  const found: DirectoryEntry[] = [];
  try {
    for await (const page of directory.search(request)) found.push(...page);
  } catch (err: unknown) {
    if (isDn && isNoSuchObject(err)) found.length = 0;
    else throw err;
  }
  const [only] = found;
  if (!only)
    throw new LookupError(
      `no object is named ${JSON.stringify(name)} (looked for a DN, sAMAccountName, userPrincipalName or mail)`,
    );
  if (found.length > 1) {
    throw new LookupError(
      `${JSON.stringify(name)} is ambiguous; it matches:\n${found.map((e) => `  ${e.dn}`).join('\n')}\nName one by its DN.`,
    );
  }
  return only;
}
