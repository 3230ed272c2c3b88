/**
 * Notifications end to end: a change in Samba, `adnotify once`, and the messages an SMTP
 * server on loopback received. One test per seed option, on and off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { DirectoryAdmin } from '../support/seed.js';
import { SmtpCapture, type CapturedMail } from '../support/smtpCapture.js';
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

/** Who received what: "address: subject", sorted. */
const inbox = (messages: CapturedMail[]) =>
  messages.flatMap((m) => m.to.map((to) => `${to}: ${m.parsed.subject ?? ''}`)).sort();

describe.skipIf(!samba)('notifications: each option tells exactly its people (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  let admin: DirectoryAdmin;
  let smtp: SmtpCapture;

  beforeAll(async () => {
    admin = await DirectoryAdmin.connect(samba);
  });
  afterAll(async () => {
    await admin.close();
  });

  /** A mail-enabled, enabled user (a user without a password is disabled in AD). */
  const person = (ou: string, name: string, attrs: Record<string, string | string[]> = {}, mail = true) =>
    admin.user(
      ou,
      `${name}${uniqueName('').slice(-6)}`.slice(0, 20),
      { displayName: name, ...(mail ? { mail: `${name.toLowerCase()}@example.test` } : {}), ...attrs },
      { password: 'Str0ng!Passw0rd' },
    );

  async function watch(name: string, seed: (ou: string) => Promise<void>, on: NotifyKey[], more = {}) {
    smtp = await SmtpCapture.start();
    return Watch.start(admin, samba!, name, seed, { smtpPort: smtp.port, extra: notify(on), ...more });
  }

  afterAll(async () => {
    await smtp.stop();
  });

  describe('objectModified', () => {
    for (const enabled of [true, false]) {
      it(`${enabled ? 'on' : 'off'}: a modified user hears of it; a modified group's members do`, async () => {
        const dn: Record<string, string> = {};
        const w = await watch(
          'objmod',
          async (ou) => {
            dn['ann'] = await person(ou, 'Ann', { title: 'Engineer' });
            dn['ben'] = await person(ou, 'Ben');
            dn['cid'] = await admin.user(ou, uniqueName('cid').slice(0, 20), { mail: 'cid@example.test' }); // disabled
            dn['dee'] = await person(ou, 'Dee', {}, false); // no mail
            dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
            await admin.addMembers(dn['club'], [dn['ben'], dn['cid'], dn['dee']]);
          },
          enabled ? ['objectModified'] : [],
        );
        await admin.modify(dn['ann']!, 'replace', 'title', ['Lead Engineer']);
        await admin.modify(dn['club']!, 'replace', 'description', ['Our club']);
        await w.once();
        if (!enabled) {
          expect(smtp.messages).toEqual([]);
          return;
        }
        expect(inbox(smtp.messages)).toEqual([
          'ann@example.test: Changes to user Ann',
          'ben@example.test: Changes to group Club',
        ]);
        const ann = smtp.messages.find((m) => m.to.includes('ann@example.test'))!;
        expect(ann.parsed.text).toContain('title: Engineer -> Lead Engineer');
        expect(ann.parsed.text).toContain('You are told because this is about you.');
        expect(ann.parsed.html).toMatch(
          /<td[^>]*>title<\/td><td[^>]*>Engineer<\/td><td[^>]*>Lead Engineer<\/td>/,
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
            dn['inner'] = await admin.group(ou, uniqueName('inner').slice(0, 20));
            dn['outer'] = await admin.group(ou, uniqueName('outer').slice(0, 20), { displayName: 'Outer' });
            await admin.addMembers(dn['inner'], [dn['fay']]);
            await admin.addMembers(dn['outer'], [dn['eve'], dn['inner']]);
          },
          ['objectModified'],
          { extra: notify(['objectModified'], `  expandNestedGroups: ${nested}`) },
        );
        await admin.modify(dn['outer']!, 'replace', 'description', ['changed']);
        await w.once();
        expect(inbox(smtp.messages)).toEqual(
          nested
            ? ['eve@example.test: Changes to group Outer', 'fay@example.test: Changes to group Outer']
            : ['eve@example.test: Changes to group Outer'],
        );
        await smtp.stop();
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
            dn['hal'] = await admin.user(ou, uniqueName('hal').slice(0, 20), {
              displayName: 'Hal',
              manager: dn['boss'],
              secretary: dn['deputy'],
            });
            dn['crew'] = await admin.group(ou, uniqueName('crew').slice(0, 20), {
              displayName: 'Crew',
              managedBy: dn['boss'],
              msExchCoManagedByLink: dn['deputy'],
            });
          },
          enabled ? ['ownerManager'] : [],
          { directoryExtra: '  additionalManagersAttribute: secretary' },
        );
        await admin.modify(dn['hal']!, 'replace', 'telephoneNumber', ['+1 555 0142']);
        await admin.addMembers(dn['crew']!, [dn['gus']!]);
        await w.once();
        if (!enabled) {
          expect(smtp.messages).toEqual([]);
          return;
        }
        expect(inbox(smtp.messages)).toEqual([
          'boss@example.test: Changes to group Crew',
          'boss@example.test: Changes to user Hal',
          'deputy@example.test: Changes to group Crew',
          'deputy@example.test: Changes to user Hal',
        ]);
        const crew = smtp.messages.find((m) => m.parsed.subject === 'Changes to group Crew')!;
        expect(crew.parsed.text).toMatch(/Members added:\n {2}\+ Gus \(CN=/);
        // A membership change concerns the group and the member, not the member's manager.
        expect(inbox(smtp.messages).filter((l) => l.includes('Gus'))).toEqual([]);
      });
    }

    it('tells the manager of a deleted user, and never mails the deleted user', async () => {
      const dn: Record<string, string> = {};
      const w = await watch(
        'delmgr',
        async (ou) => {
          dn['boss'] = await person(ou, 'Boss');
          dn['ivo'] = await person(ou, 'Ivo', { manager: dn['boss'] });
          dn['team'] = await admin.group(ou, uniqueName('team').slice(0, 20));
          await admin.addMembers(dn['team'], [dn['ivo']]);
        },
        ['ownerManager', 'objectModified', 'removedMemberOnRemoval'],
      );
      await admin.delete(dn['ivo']!);
      await w.once();
      expect(inbox(smtp.messages)).toEqual(['boss@example.test: Deleted user Ivo']);
      expect(smtp.messages[0]?.parsed.text).toContain('The user was deleted.');
    });
  });
});
