/**
 * What the directory says the watched domain is, for believing forwarded Windows events: its
 * domain controllers (the dNSHostName of each server object in the configuration's sites
 * whose serverReference is a computer of this domain) and its DNS and NetBIOS names (the
 * domain's crossRef in CN=Partitions). Read each cycle that has Windows events to match, so a
 * DC added or removed counts from the next cycle on.
 */
import type { WatchedDomain } from '../core/audit.js';
import { escapeFilterValue, isWithin } from '../core/dn.js';
import { textOf, type AttributeValue, type DirectoryEntry } from '../core/types.js';
import type { DirectorySource } from './port.js';

/** The text of a value that may have been read as an Extended DN. */
function dnText(entry: DirectoryEntry, name: string): string | null {
  const value: AttributeValue | undefined = [...entry.attributes].find(
    ([k]) => k.toLowerCase() === name.toLowerCase(),
  )?.[1][0];
  if (value === undefined || value instanceof Uint8Array) return null;
  return typeof value === 'string' ? value : value.dn;
}

/** "DC=acme,DC=test" → "acme.test". */
function dnsNameOf(namingContext: string): string {
  return namingContext
    .split(',')
    .filter((rdn) => /^dc=/i.test(rdn.trim()))
    .map((rdn) => rdn.trim().slice(3))
    .join('.')
    .toLowerCase();
}

export async function watchedDomain(
  directory: DirectorySource,
  namingContexts: readonly string[],
  namingContext: string,
): Promise<WatchedDomain> {
  const controllers = new Set<string>();
  const names = new Set<string>([dnsNameOf(namingContext)]);
  const configuration = namingContexts.find((nc) => /^CN=Configuration,/i.test(nc));
  if (configuration === undefined) return { controllers, names };
  const servers = { base: `CN=Sites,${configuration}`, filter: '(&(objectClass=server)(dNSHostName=*))' };
  for await (const page of directory.search(servers)) {
    for (const server of page) {
      const host = textOf(server, 'dNSHostName')?.toLowerCase();
      const computer = dnText(server, 'serverReference');
      if (host === undefined || computer === null || !isWithin(computer, namingContext)) continue;
      controllers.add(host);
      controllers.add(host.split('.')[0] ?? host);
    }
  }
  const partitions = {
    base: `CN=Partitions,${configuration}`,
    filter: `(&(objectClass=crossRef)(nCName=${escapeFilterValue(namingContext)}))`,
  };
  for await (const page of directory.search(partitions)) {
    for (const crossRef of page) {
      for (const name of ['dnsRoot', 'nETBIOSName']) {
        const value = textOf(crossRef, name);
        if (value !== null) names.add(value.toLowerCase());
      }
    }
  }
  return { controllers, names };
}
