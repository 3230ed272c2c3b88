/**
 * notify.protectedGroups: every change to a protected group (adminCount=1, as Samba provisions
 * on Domain Admins and the other built-in administrative groups, or listed in
 * notify.protectedGroupsExtra) reaches smtp.to/smtp.cc, even when nobody else is told.
 * The watch covers CN=Users, where the built-in groups live; its filter keeps it to groups.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('protected groups always reach the administrators (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);

  const inbox = () => bed.smtp.inbox();

  it('a mail-less account added to Domain Admins (no owner) mails the administrators; an ordinary group keeps today’s rule', async () => {
    const users = `CN=Users,${samba.baseDN}`;
    const domainAdmins = `CN=Domain Admins,${users}`;
    let intruder = '';
    let plain = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'prot',
      async (ou) => {
        intruder = await bed.admin.user(
          ou,
          uniqueName('x').slice(0, 18),
          {},
          { password: 'Str0ng!Passw0rd' },
        );
        plain = await bed.admin.group(users, uniqueName('plain').slice(0, 20));
      },
      {
        watchBase: users,
        smtpPort: bed.smtp.port,
        smtpExtra: '  to: [helpdesk@example.test]\n  cc: [audit@example.test]',
        directoryExtra: '  filter: "(objectClass=group)"',
      },
    );
    try {
      await bed.admin.addMembers(domainAdmins, [intruder]);
      await bed.admin.addMembers(plain, [intruder]);
      const { events } = await watch.cycle();
      expect(events.map((e) => [e.type, e.object.dn])).toEqual(
        expect.arrayContaining([
          ['group.member.added', domainAdmins],
          ['group.member.added', plain],
        ]),
      );
      // One administrators' copy, for Domain Admins only: the plain group told nobody.
      expect(inbox()).toEqual([
        'helpdesk@example.test,audit@example.test: [adnotify] Protected group: Changes to group Domain Admins',
      ]);
      const [mail] = bed.smtp.messages;
      expect(mail?.parsed.cc).toMatchObject({ text: 'audit@example.test' });
      expect(mail?.parsed.text).toContain('This is a protected group');
      expect(mail?.parsed.text).toContain(intruder);
      expect(mail?.parsed.text).toContain('Told: nobody else');

      // protectedGroupsExtra names the plain group (spelt with other case and spaces).
      const spelt = plain.replace(/,/g, ', ').replace(/^CN=/, 'cn=').toUpperCase();
      writeFileSync(
        watch.config,
        `${readFileSync(watch.config, 'utf8')}notify:\n  protectedGroupsExtra: [${JSON.stringify(spelt)}]\n`,
      );
      await bed.admin.removeMembers(plain, [intruder]);
      await watch.cycle();
      expect(inbox().slice(1)).toEqual([
        expect.stringMatching(
          /^helpdesk@example\.test,audit@example\.test: \[adnotify\] Protected group: Changes to group plain-/,
        ),
      ]);

      // Turned off: the same kind of change to Domain Admins mails nobody.
      writeFileSync(
        watch.config,
        readFileSync(watch.config, 'utf8').replace(/notify:\n.*\n$/, 'notify:\n  protectedGroups: false\n'),
      );
      await bed.admin.removeMembers(domainAdmins, [intruder]);
      const off = await watch.cycle();
      expect(off.events.map((e) => e.type)).toEqual(['group.member.removed']);
      expect(inbox()).toHaveLength(2);
    } finally {
      await bed.admin.removeMembers(domainAdmins, [intruder]).catch(() => undefined);
      await bed.admin.delete(plain).catch(() => undefined);
    }
  });
});
