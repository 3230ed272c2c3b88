/**
 * How Active Directory names attributes to people: the display specifiers' attributeDisplayNames
 * ("telephoneNumber,Telephone Number") for users, groups and contacts, in English (CN=409),
 * read once per directory connection object. Mail shows "Telephone Number", and falls back to
 * the LDAP name for an attribute without one (or when the specifiers cannot be read).
 * Microsoft, "Display Specifiers": https://learn.microsoft.com/windows/win32/ad/display-specifiers
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { DirectorySource } from './port.js';

const cache = new WeakMap<DirectorySource, Promise<ReadonlyMap<string, string>>>();

/** LDAP name (lower case) to display name. */
export function attributeDisplayNames(
  directory: DirectorySource,
  namingContexts: readonly string[],
  log: Logger,
): Promise<ReadonlyMap<string, string>> {
  let names = cache.get(directory);
  if (!names) {
    names = read(directory, namingContexts).catch((err: unknown) => {
      log.debug('display specifiers not read; attributes are shown by their LDAP names', {
        err: errorMessage(err),
      });
      return new Map<string, string>();
    });
    cache.set(directory, names);
  }
  return names;
}

async function read(
  directory: DirectorySource,
  namingContexts: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const configuration = namingContexts.find((nc) => /^CN=Configuration,/i.test(nc));
  if (configuration === undefined) return out;
  const base = `CN=409,CN=DisplaySpecifiers,${configuration}`;
  const filter = '(|(cn=user-Display)(cn=group-Display)(cn=contact-Display))';
  for await (const page of directory.search({ base, filter, attributes: ['attributeDisplayNames'] })) {
    for (const entry of page) {
      const values =
        [...entry.attributes].find(([k]) => k.toLowerCase() === 'attributedisplaynames')?.[1] ?? [];
      for (const value of values) {
        if (typeof value !== 'string') continue;
        const comma = value.indexOf(',');
        if (comma <= 0) continue;
        const ldap = value.slice(0, comma).trim().toLowerCase();
        const shown = value.slice(comma + 1).trim();
        if (shown !== '' && !out.has(ldap)) out.set(ldap, shown);
      }
    }
  }
  return out;
}
