/**
 * The delivery scenario several suites share: a watched OU holding a group owned by an
 * enabled, mail-enabled user, its baseline taken. Each `change(n)` adds n mail-enabled
 * contacts to the group, which (notify.newMemberOnAdd and ownerManager, set here) makes n + 1
 * messages: one per new member and one for the owner.
 */
import { uniqueName } from './cli.js';
import type { SambaInfo } from './samba.js';
import type { DirectoryAdmin } from './seed.js';
import { Watch, type WatchOptions } from './watch.js';

export async function ownedGroup(
  admin: DirectoryAdmin,
  samba: SambaInfo,
  name: string,
  options: WatchOptions = {},
): Promise<{ watch: Watch; change: (n: number) => Promise<void> }> {
  let group = '';
  let ou = '';
  const watch = await Watch.start(
    admin,
    samba,
    name,
    async (o) => {
      ou = o;
      // An enabled account (it has a password): a disabled one is not mailed.
      const owner = await admin.user(
        o,
        uniqueName('own').slice(0, 20),
        { mail: `owner-${name}@example.test` },
        { password: 'Str0ng!Passw0rd' },
      );
      group = await admin.group(o, uniqueName('grp').slice(0, 20), { displayName: 'Team', managedBy: owner });
    },
    { ...options, extra: `notify: { newMemberOnAdd: true, ownerManager: true }\n${options.extra ?? ''}` },
  );
  let counter = 0;
  const change = async (n: number) => {
    const members: string[] = [];
    for (let i = 0; i < n; i++) {
      counter++;
      members.push(
        await admin.contact(ou, `m${counter}-${name}`, { mail: `m${counter}-${name}@example.test` }),
      );
    }
    await admin.addMembers(group, members);
  };
  return { watch, change };
}
