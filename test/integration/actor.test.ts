/**
 * Who made a change, from the Samba AD DC's own audit records (the test DC runs with
 * dsdb_json_audit on): two delegated operators (Account Operators, one with mail, one
 * without) and the administrator change objects; every message and `history` name the right
 * one, and loggedInUser mails the operator who has mail.
 */
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseSambaAudit } from '../../src/core/audit.js';

import { sambaOrNull, tempDir, uniqueName } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { DirectoryAdmin } from '../support/seed.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();
const PASSWORD = 'Str0ng!Passw0rd';

describe.skipIf(!samba)('the actor from the Samba audit log (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);

  it('names the operator or administrator who made each change; tells the operator with mail', async () => {
    const dn: Record<string, string> = {};
    const watch = await Watch.start(
      bed.admin,
      samba,
      'actor',
      async (ou) => {
        dn['olga'] = await bed.admin.person(ou, 'Olga');
        dn['nomail'] = await bed.admin.person(ou, 'Nemo', {}, null);
        await bed.admin.addMembers(`CN=Account Operators,CN=Builtin,${samba.baseDN}`, [
          dn['olga'],
          dn['nomail'],
        ]);
        dn['ann'] = await bed.admin.person(ou, 'Ann');
        dn['bob'] = await bed.admin.person(ou, 'Bob');
        dn['team'] = await bed.admin.group(ou, uniqueName('team').slice(0, 20), { displayName: 'Team' });
      },
      {
        smtpPort: bed.smtp.port,
        smtpExtra: '  to: [helpdesk@example.test]',
        directoryExtra: `  actor:\n    source: samba-audit\n    paths: [${JSON.stringify(samba.auditLog)}]\n    waitSeconds: 10`,
        extra: 'notify:\n  loggedInUser: true\n  objectModified: true\n',
      },
    );
    bed.smtp.messages.length = 0;
    const olga = await DirectoryAdmin.connect(samba, { dn: dn['olga']!, password: PASSWORD });
    const nemo = await DirectoryAdmin.connect(samba, { dn: dn['nomail']!, password: PASSWORD });
    try {
      await olga.modify(dn['ann']!, 'replace', 'telephoneNumber', ['+1 555 0100']);
      await nemo.addMembers(dn['team']!, [dn['bob']!]);
      await bed.admin.modify(dn['bob']!, 'replace', 'title', ['Boss']);

      const { events } = await watch.cycle();

      const by = (type: string, object: string) =>
        events.find((e) => e.type === type && e.object.dn === object)?.actor;
      expect(by('object.modified', dn['ann']!)).toMatchObject({ name: 'Olga', dn: dn['olga'] });
      expect(by('group.member.added', dn['team']!)).toMatchObject({ name: 'Nemo', dn: dn['nomail'] });
      expect(by('object.modified', dn['bob']!)).toMatchObject({ account: 'Administrator' });

      const inbox = bed.smtp.byRecipient();
      expect(inbox).toContain('olga@example.test: Changes to user Ann');
      expect(inbox.filter((m) => m.startsWith('nemo'))).toEqual([]);
      const toOlga = bed.smtp.messages.find((m) => m.to.includes('olga@example.test'));
      expect(toOlga?.parsed.text).toContain('You are told because you made this change.');
      const copy = bed.smtp.messages.find(
        (m) => m.to.includes('helpdesk@example.test') && m.parsed.subject?.includes('Ann'),
      );
      expect(copy?.parsed.text).toMatch(/By: Olga \(/);

      const history = await watch.run('history', '--since', '1h');
      expect(history.stdout).toMatch(/object\.modified.*Ann.*by Olga/);

      // Another run (a new process, as from cron): it reads on from where the last one stopped.
      await olga.modify(dn['bob']!, 'replace', 'description', ['seen by Olga']);
      const next = await watch.cycle();
      expect(next.events.map((e) => `${e.type} ${e.actor?.name ?? '?'}`)).toEqual(['object.modified Olga']);
    } finally {
      await olga.close();
      await nemo.close();
    }
  });

  it('the same changes described as forwarded Windows events (Winlogbeat lines) name the same people', async () => {
    const dn: Record<string, string> = {};
    const events = join(tempDir(), 'security.json');
    writeFileSync(events, '');
    const watch = await Watch.start(
      bed.admin,
      samba,
      'winevt',
      async (ou) => {
        dn['olga'] = await bed.admin.person(ou, 'Olga');
        await bed.admin.addMembers(`CN=Account Operators,CN=Builtin,${samba.baseDN}`, [dn['olga']]);
        dn['ann'] = await bed.admin.person(ou, 'Ann');
        dn['team'] = await bed.admin.group(ou, uniqueName('team').slice(0, 20), { displayName: 'Team' });
      },
      {
        smtpPort: bed.smtp.port,
        directoryExtra: `  actor:\n    source: windows-events\n    paths: [${JSON.stringify(events)}]\n    waitSeconds: 3`,
        extra: 'notify:\n  objectModified: true\n',
      },
    );
    bed.smtp.messages.length = 0;
    const olga = await DirectoryAdmin.connect(samba, { dn: dn['olga']!, password: PASSWORD });
    const auditStart = statSync(samba.auditLog).size;
    try {
      await olga.modify(dn['ann']!, 'replace', 'telephoneNumber', ['+1 555 0199']);
      await bed.admin.addMembers(dn['team']!, [dn['ann']!]);
      // A change whose event is never forwarded: it goes out after waitSeconds, actor unknown.
      await bed.admin.modify(dn['olga']!, 'replace', 'title', ['Operator']);
    } finally {
      await olga.close();
    }
    // The DC's records of these changes, as a Windows DC would log them and Winlogbeat ship them.
    const records = readFileSync(samba.auditLog)
      .subarray(auditStart)
      .toString('utf8')
      .split('\n')
      .flatMap(parseSambaAudit)
      .filter((r) => r.dn === dn['ann'] || (r.dn === dn['team'] && r.operation === 'member-add'));
    const forwarded = (at: string, id: number, computer: string, data: Record<string, unknown>) =>
      JSON.stringify({
        '@timestamp': at,
        winlog: {
          event_id: id,
          channel: 'Security',
          provider_name: 'Microsoft-Windows-Security-Auditing',
          computer_name: computer,
          event_data: data,
        },
      });
    const lines = records.map((r) =>
      forwarded(r.at, 5136, 'dc1.example.test', {
        SubjectUserSid: r.actorSid,
        ObjectDN: r.dn,
        DSName: 'example.test',
        AttributeLDAPDisplayName: r.attribute,
        AttributeValue: r.member?.dn ?? 'changed',
        OperationType: r.operation === 'member-remove' ? '%%14675' : '%%14674',
      }),
    );
    // A workstation's local-SAM "user account changed" for an account of the same name, a
    // moment later: it must not take Olga's change over.
    const annAccount = (
      await bed.admin.client.search(dn['ann']!, { scope: 'base', attributes: ['sAMAccountName'] })
    ).searchEntries[0]?.['sAMAccountName'];
    const later = new Date(Date.parse(records[0]!.at) + 1000).toISOString();
    lines.push(
      forwarded(later, 4738, 'WKS01.example.test', {
        SubjectUserSid: 'S-1-5-21-1111-2222-3333-500',
        SubjectUserName: 'Administrator',
        SubjectDomainName: 'WKS01',
        TargetUserName: String(annAccount),
        TargetDomainName: 'WKS01',
      }),
    );
    expect(lines.length).toBeGreaterThanOrEqual(2);
    appendFileSync(events, `${lines.join('\n')}\n`);

    const { stderr } = await watch.once();
    const changes = await watch.newEvents();

    const by = (type: string, object: string) =>
      changes.find((e) => e.type === type && e.object.dn === object)?.actor;
    expect(by('object.modified', dn['ann']!)).toMatchObject({ name: 'Olga', dn: dn['olga'] });
    expect(stderr).toContain(
      'audit records ignored: not logged by a domain controller of the watched domain',
    );
    expect(by('group.member.added', dn['team']!)).toMatchObject({ account: 'Administrator' });
    const unforwarded = changes.find((e) => e.object.dn === dn['olga']);
    expect(unforwarded?.type).toBe('object.modified');
    expect(unforwarded).not.toHaveProperty('actor'); // null in history --json, stripped by the bed
    const toOlga = bed.smtp.messages.find((m) => m.to.includes('olga@example.test'));
    expect(toOlga?.parsed.text).toContain('By: unknown (no audit record named who made this change)');
  });
});
