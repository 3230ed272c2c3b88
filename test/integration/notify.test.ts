/**
 * Notifications end to end: a change in Samba, `adnotify once`, and the messages an SMTP
 * server on loopback received. One test per seed option, on and off.
 */
import { describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

type NotifyKey =
  | 'loggedInUser'
  | 'ownerManager'
  | 'objectModified'
  | 'publicGroupOwnerOnMembershipChange'
  | 'newMemberOnAdd'
  | 'removedMemberOnRemoval';

/** A notify: block with exactly these options on. */
function notify(on: NotifyKey[], extra = ''): string {
  const keys: NotifyKey[] = [
    'loggedInUser',
    'ownerManager',
    'objectModified',
    'publicGroupOwnerOnMembershipChange',
    'newMemberOnAdd',
    'removedMemberOnRemoval',
  ];
  return `notify:\n${keys.map((k) => `  ${k}: ${on.includes(k)}`).join('\n')}\n${extra}`;
}

describe.skipIf(!samba)('notifications: each option tells exactly its people (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);

  const person = (ou: string, name: string, attrs: Record<string, string | string[]> = {}, mail = true) =>
    bed.admin.person(ou, name, attrs, mail ? undefined : null);

  /** A watched OU with `on` enabled; the capture starts empty for it. */
  async function watch(name: string, seed: (ou: string) => Promise<void>, on: NotifyKey[], more = {}) {
    bed.smtp.messages.length = 0;
    return Watch.start(bed.admin, samba!, name, seed, {
      smtpPort: bed.smtp.port,
      extra: notify(on),
      ...more,
    });
  }

  describe('objectModified', () => {
    for (const enabled of [true, false]) {
      it(`${enabled ? 'on' : 'off'}: a modified user hears of it; a modified group's members do`, async () => {
        const dn: Record<string, string> = {};
        const w = await watch(
          'objmod',
          async (ou) => {
            dn['ann'] = await person(ou, 'Ann', { title: 'Engineer' });
            dn['ben'] = await person(ou, 'Ben');
            dn['cid'] = await bed.admin.user(ou, uniqueName('cid').slice(0, 20), {
              mail: 'cid@example.test',
            }); // disabled
            dn['dee'] = await person(ou, 'Dee', {}, false); // no mail
            dn['club'] = await bed.admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
            await bed.admin.addMembers(dn['club'], [dn['ben'], dn['cid'], dn['dee']]);
          },
          enabled ? ['objectModified'] : [],
        );
        await bed.admin.modify(dn['ann']!, 'replace', 'title', ['Lead Engineer']);
        await bed.admin.modify(dn['club']!, 'replace', 'description', ['Our club']);
        await w.once();
        if (!enabled) {
          expect(bed.smtp.messages).toEqual([]);
          return;
        }
        expect(bed.smtp.byRecipient()).toEqual([
          'ann@example.test: Changes to user Ann',
          'ben@example.test: Changes to group Club',
        ]);
        const ann = bed.smtp.messages.find((m) => m.to.includes('ann@example.test'))!;
        // Attributes by the names AD shows people (display specifiers): title is "Job Title".
        expect(ann.parsed.text).toContain('Job Title: Engineer -> Lead Engineer');
        expect(ann.parsed.text).toContain('You are told because this is about you.');
        expect(ann.parsed.html).toMatch(
          /<td[^>]*>Job Title<\/td><td[^>]*>Engineer<\/td><td[^>]*>Lead Engineer<\/td>/,
        );
        expect(ann.parsed.headers.get('auto-submitted')).toBe('auto-generated');
      });
    }

    it('members of nested groups only with expandNestedGroups', async () => {
      for (const nested of [false, true]) {
        const dn: Record<string, string> = {};
        const w = await watch(
          'nested',
          async (ou) => {
            dn['eve'] = await person(ou, 'Eve');
            dn['fay'] = await person(ou, 'Fay');
            dn['inner'] = await bed.admin.group(ou, uniqueName('inner').slice(0, 20));
            dn['outer'] = await bed.admin.group(ou, uniqueName('outer').slice(0, 20), {
              displayName: 'Outer',
            });
            await bed.admin.addMembers(dn['inner'], [dn['fay']]);
            await bed.admin.addMembers(dn['outer'], [dn['eve'], dn['inner']]);
          },
          ['objectModified'],
          { extra: notify(['objectModified'], `  expandNestedGroups: ${nested}`) },
        );
        await bed.admin.modify(dn['outer']!, 'replace', 'description', ['changed']);
        await w.once();
        expect(bed.smtp.byRecipient()).toEqual(
          nested
            ? ['eve@example.test: Changes to group Outer', 'fay@example.test: Changes to group Outer']
            : ['eve@example.test: Changes to group Outer'],
        );
      }
    });
  });

  describe('ownerManager', () => {
    for (const enabled of [true, false]) {
      it(`${enabled ? 'on' : 'off'}: a user's manager and additional manager; a group's owner and co-owner`, async () => {
        const dn: Record<string, string> = {};
        const w = await watch(
          'ownmgr',
          async (ou) => {
            dn['boss'] = await person(ou, 'Boss');
            dn['deputy'] = await person(ou, 'Deputy');
            dn['gus'] = await person(ou, 'Gus');
            dn['hal'] = await bed.admin.user(ou, uniqueName('hal').slice(0, 20), {
              displayName: 'Hal',
              manager: dn['boss'],
              secretary: dn['deputy'],
            });
            dn['crew'] = await bed.admin.group(ou, uniqueName('crew').slice(0, 20), {
              displayName: 'Crew',
              managedBy: dn['boss'],
              msExchCoManagedByLink: dn['deputy'],
            });
          },
          enabled ? ['ownerManager'] : [],
          { directoryExtra: '  additionalManagersAttribute: secretary' },
        );
        await bed.admin.modify(dn['hal']!, 'replace', 'telephoneNumber', ['+1 555 0142']);
        await bed.admin.addMembers(dn['crew']!, [dn['gus']!]);
        await w.once();
        if (!enabled) {
          expect(bed.smtp.messages).toEqual([]);
          return;
        }
        expect(bed.smtp.byRecipient()).toEqual([
          'boss@example.test: Changes to group Crew',
          'boss@example.test: Changes to user Hal',
          'deputy@example.test: Changes to group Crew',
          'deputy@example.test: Changes to user Hal',
        ]);
        const crew = bed.smtp.messages.find((m) => m.parsed.subject === 'Changes to group Crew')!;
        expect(crew.parsed.text).toMatch(/Members added:\n {2}\+ Gus \(CN=/);
        // A membership change concerns the group and the member, not the member's manager.
        expect(bed.smtp.byRecipient().filter((l) => l.includes('Gus'))).toEqual([]);
      });
    }

    it('tells the manager of a deleted user, and never mails the deleted user', async () => {
      const dn: Record<string, string> = {};
      const w = await watch(
        'delmgr',
        async (ou) => {
          dn['boss'] = await person(ou, 'Boss');
          dn['ivo'] = await person(ou, 'Ivo', { manager: dn['boss'] });
          dn['team'] = await bed.admin.group(ou, uniqueName('team').slice(0, 20));
          await bed.admin.addMembers(dn['team'], [dn['ivo']]);
        },
        ['ownerManager', 'objectModified', 'removedMemberOnRemoval'],
      );
      await bed.admin.delete(dn['ivo']!);
      await w.once();
      expect(bed.smtp.byRecipient()).toEqual(['boss@example.test: Deleted user Ivo']);
      expect(bed.smtp.messages[0]?.parsed.text).toContain('The user was deleted.');
    });
  });

  describe('publicGroupOwnerOnMembershipChange', () => {
    for (const enabled of [true, false]) {
      it(`${enabled ? 'on' : 'off'}: owners of a public group hear of joins and leaves; of other groups, not`, async () => {
        const dn: Record<string, string> = {};
        const w = await watch(
          'public',
          async (ou) => {
            dn['olga'] = await person(ou, 'Olga');
            dn['pete'] = await person(ou, 'Pete');
            dn['joe'] = await bed.admin.user(ou, uniqueName('joe').slice(0, 20));
            dn['open'] = await bed.admin.group(ou, uniqueName('open').slice(0, 20), {
              displayName: 'Open',
              managedBy: dn['olga'],
              description: 'public',
            });
            dn['closed'] = await bed.admin.group(ou, uniqueName('closed').slice(0, 20), {
              displayName: 'Closed',
              managedBy: dn['pete'],
            });
          },
          enabled ? ['publicGroupOwnerOnMembershipChange'] : [],
          {
            extra: notify(
              enabled ? ['publicGroupOwnerOnMembershipChange'] : [],
              '  publicGroups: "(description=public)"',
            ),
          },
        );
        await bed.admin.addMembers(dn['open']!, [dn['joe']!]);
        await bed.admin.addMembers(dn['closed']!, [dn['joe']!]);
        await bed.admin.modify(dn['open']!, 'replace', 'info', ['not a membership change']);
        await w.once();
        expect(bed.smtp.byRecipient()).toEqual(enabled ? ['olga@example.test: Changes to group Open'] : []);
        if (enabled) {
          expect(bed.smtp.messages[0]?.parsed.text).toContain(
            'You are told because you own this public group and its membership changed.',
          );
        }
      });
    }
  });

  describe('newMemberOnAdd and removedMemberOnRemoval', () => {
    for (const [added, removed] of [
      [true, true],
      [true, false],
      [false, true],
      [false, false],
    ] as const) {
      it(`added ${added ? 'on' : 'off'}, removed ${removed ? 'on' : 'off'}: the member is told which group`, async () => {
        const dn: Record<string, string> = {};
        const on: NotifyKey[] = [
          ...(added ? ['newMemberOnAdd' as const] : []),
          ...(removed ? ['removedMemberOnRemoval' as const] : []),
        ];
        const w = await watch(
          'addrem',
          async (ou) => {
            dn['quinn'] = await person(ou, 'Quinn');
            dn['rita'] = await person(ou, 'Rita');
            dn['contact'] = await bed.admin.contact(ou, 'Sol Contact', {
              mail: 'sol@partner.example',
              displayName: 'Sol',
            });
            dn['crew'] = await bed.admin.group(ou, uniqueName('crew').slice(0, 20), { displayName: 'Crew' });
            await bed.admin.addMembers(dn['crew'], [dn['rita']]);
          },
          on,
        );
        await bed.admin.addMembers(dn['crew']!, [dn['quinn']!, dn['contact']!]);
        await bed.admin.removeMembers(dn['crew']!, [dn['rita']!]);
        await w.once();
        expect(bed.smtp.byRecipient()).toEqual([
          ...(added ? ['quinn@example.test: You were added to Crew'] : []),
          ...(removed ? ['rita@example.test: You were removed from Crew'] : []),
          ...(added ? ['sol@partner.example: You were added to Crew'] : []),
        ]);
        if (added) {
          const quinn = bed.smtp.messages.find((m) => m.to.includes('quinn@example.test'))!;
          expect(quinn.parsed.text).toContain('You were added to the group Crew.');
          expect(quinn.parsed.text).toContain(`Group: ${dn['crew']!}`);
        }
      });
    }

    it('a group added as a member is told through its mail, else through its members', async () => {
      const dn: Record<string, string> = {};
      const w = await watch(
        'grpmember',
        async (ou) => {
          dn['tom'] = await person(ou, 'Tom');
          dn['lists'] = await bed.admin.group(ou, uniqueName('lists').slice(0, 20), {
            mail: 'lists@example.test',
          });
          dn['plain'] = await bed.admin.group(ou, uniqueName('plain').slice(0, 20));
          await bed.admin.addMembers(dn['plain'], [dn['tom']]);
          dn['crew'] = await bed.admin.group(ou, uniqueName('crew').slice(0, 20), { displayName: 'Crew' });
        },
        ['newMemberOnAdd'],
      );
      await bed.admin.addMembers(dn['crew']!, [dn['lists']!, dn['plain']!]);
      await w.once();
      expect(bed.smtp.byRecipient()).toEqual([
        'lists@example.test: You were added to Crew',
        'tom@example.test: You were added to Crew',
      ]);
    });
  });

  describe('loggedInUser', () => {
    it('tells the actor named by directory.actor.attribute; with source none, check-config warns', async () => {
      const dn: Record<string, string> = {};
      // Active Directory records no modifier; directories that do expose it as an attribute.
      // Here the multi-valued DN attribute "secretary" stands in for such an attribute.
      const w = await watch(
        'actor',
        async (ou) => {
          dn['uma'] = await person(ou, 'Uma');
          dn['vic'] = await bed.admin.user(ou, uniqueName('vic').slice(0, 20), { displayName: 'Vic' });
        },
        ['loggedInUser'],
        { directoryExtra: '  actor:\n    source: attribute\n    attribute: secretary' },
      );
      await bed.admin.modify(dn['vic']!, 'replace', 'title', ['Changed by Uma']);
      await bed.admin.modify(dn['vic']!, 'replace', 'secretary', [dn['uma']!]);
      await w.once();
      expect(bed.smtp.byRecipient()).toEqual(['uma@example.test: Changes to user Vic']);
      expect(bed.smtp.messages[0]?.parsed.text).toContain('You are told because you made this change.');
      expect(bed.smtp.messages[0]?.parsed.text).toContain(`By: ${dn['uma']!}`);

      const none = await watch('actornone', () => Promise.resolve(), ['loggedInUser']);
      const check = await none.run('check-config');
      expect(check.code).toBe(0);
      expect(check.stderr).toMatch(/warning: notify\.loggedInUser: .*actor/);
    });
  });

  describe('bed.smtp.to and bed.smtp.cc, and one message per object per recipient', () => {
    it('administrators get one copy per object per cycle; a person in several roles gets one message', async () => {
      const dn: Record<string, string> = {};
      const w = await watch(
        'copies',
        async (ou) => {
          dn['wes'] = await person(ou, 'Wes');
          dn['xena'] = await person(ou, 'Xena');
          dn['crew'] = await bed.admin.group(ou, uniqueName('crew').slice(0, 20), {
            displayName: 'Crew',
            managedBy: dn['wes'],
          });
          await bed.admin.addMembers(dn['crew'], [dn['wes']]);
        },
        ['objectModified', 'ownerManager', 'newMemberOnAdd', 'publicGroupOwnerOnMembershipChange'],
        { smtpExtra: '  to: [helpdesk@example.test]\n  cc: [audit@example.test]' },
      );
      await bed.admin.modify(dn['crew']!, 'replace', 'description', ['one']);
      await bed.admin.modify(dn['crew']!, 'replace', 'info', ['two']);
      await bed.admin.addMembers(dn['crew']!, [dn['xena']!]);
      const { stdout } = await w.once();
      expect(stdout).toMatch(/^mail: 3 sent via 127\.0\.0\.1:\d+; 0 waiting, 0 held, 0 failed now$/m);
      expect(bed.smtp.byRecipient()).toEqual([
        'audit@example.test: [adnotify] Changes to group Crew',
        'helpdesk@example.test: [adnotify] Changes to group Crew',
        'wes@example.test: Changes to group Crew',
        'xena@example.test: Changes to group Crew',
      ]);
      const copy = bed.smtp.messages.find((m) => m.to.includes('helpdesk@example.test'))!;
      expect(copy.parsed.cc).toBeDefined();
      expect(copy.parsed.text).toContain('Told: ');
      expect(copy.parsed.text).toMatch(/Description: \(none\) -> one/);
      expect(copy.parsed.text).toMatch(/Notes: \(none\) -> two/);
      const wes = bed.smtp.messages.find((m) => m.to.includes('wes@example.test'))!;
      expect(wes.parsed.text).toContain(
        'You are told because you are a member of this group and you own this group.',
      );
    });
  });

  describe('each option switched off stops exactly its own messages', () => {
    const ALL: NotifyKey[] = [
      'ownerManager',
      'objectModified',
      'publicGroupOwnerOnMembershipChange',
      'newMemberOnAdd',
      'removedMemberOnRemoval',
    ];
    // One change that every option has something to say about, and what each option adds.
    const own: Record<Exclude<NotifyKey, 'loggedInUser'>, string[]> = {
      ownerManager: ['boss@example.test: Changes to user Kim', 'own@example.test: Changes to group Team'],
      objectModified: ['kim@example.test: Changes to user Kim', 'stay@example.test: Changes to group Team'],
      publicGroupOwnerOnMembershipChange: ['own@example.test: Changes to group Team'],
      newMemberOnAdd: ['new@example.test: You were added to Team'],
      removedMemberOnRemoval: ['gone@example.test: You were removed from Team'],
    };
    for (const off of ALL) {
      it(`all on but ${off}`, async () => {
        const dn: Record<string, string> = {};
        const on = ALL.filter((k) => k !== off);
        const w = await watch(
          'alloff',
          async (ou) => {
            dn['boss'] = await person(ou, 'Boss');
            dn['own'] = await person(ou, 'Own');
            dn['kim'] = await person(ou, 'Kim', { manager: dn['boss'] });
            dn['stay'] = await person(ou, 'Stay');
            dn['gone'] = await person(ou, 'Gone');
            dn['new'] = await person(ou, 'New');
            dn['team'] = await bed.admin.group(ou, uniqueName('team').slice(0, 20), {
              displayName: 'Team',
              managedBy: dn['own'],
            });
            await bed.admin.addMembers(dn['team'], [dn['stay'], dn['gone']]);
          },
          on,
        );
        await bed.admin.modify(dn['kim']!, 'replace', 'title', ['New title']);
        await bed.admin.addMembers(dn['team']!, [dn['new']!]);
        await bed.admin.removeMembers(dn['team']!, [dn['gone']!]);
        await w.once();
        const expected = new Set(on.flatMap((k) => (k === 'loggedInUser' ? [] : own[k])));
        // A member added while objectModified is on is also a member: one message, the change.
        if (on.includes('objectModified')) {
          expected.add('new@example.test: Changes to group Team');
          expected.delete('new@example.test: You were added to Team');
        }
        expect(bed.smtp.byRecipient()).toEqual([...expected].sort());
      });
    }
  });

  describe('hostile values', () => {
    it('escapes HTML, keeps CR/LF out of headers, summarises huge and binary values', async () => {
      const dn: Record<string, string> = {};
      const w = await watch(
        'hostile',
        async (ou) => {
          dn['yan'] = await person(ou, 'Yan');
        },
        ['objectModified'],
      );
      await bed.admin.modify(dn['yan']!, 'replace', 'displayName', ['Yan\r\nBcc: everyone@example.test']);
      await bed.admin.modify(dn['yan']!, 'replace', 'description', [
        '<script>alert("x")</script><img src=x onerror=alert(1)>',
      ]);
      await bed.admin.modify(dn['yan']!, 'replace', 'info', ['A'.repeat(1_000)]);
      const phones = Array.from({ length: 300 }, (_, i) => `+1 555 ${String(i).padStart(4, '0')}`);
      await bed.admin.modify(dn['yan']!, 'replace', 'otherTelephone', phones);
      await bed.admin.modify(dn['yan']!, 'replace', 'jpegPhoto', [Buffer.alloc(200_000, 0xff)]);
      await w.once();
      expect(bed.smtp.messages).toHaveLength(1);
      const mail = bed.smtp.messages[0]!;
      expect(mail.to).toEqual(['yan@example.test']);
      expect(mail.parsed.subject).toBe('Changes to user Yan\\r\\nBcc: everyone@example.test');
      expect(mail.parsed.bcc).toBeUndefined();
      expect(mail.raw).not.toMatch(/^Bcc:/im);
      const html = String(mail.parsed.html);
      expect(html).not.toContain('<script>');
      expect(html).not.toContain('<img');
      expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
      expect(mail.parsed.text).toContain(`Notes: (none) -> ${'A'.repeat(200)}… (1,000 characters)`);
      expect(mail.parsed.text).toContain('+1 555 0009; and 290 more');
      expect(mail.parsed.text).toContain('jpegPhoto: (none) -> binary value, changed');
      expect(mail.raw.length).toBeLessThan(30_000);
    });
  });
});
