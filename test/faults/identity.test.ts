/**
 * Directory identity: the state was recorded under another invocationId (the DC was restored
 * from a backup) or another DC (failover to a replica). USNs from the state mean nothing
 * there, so adnotify reads everything once, diffs it against the snapshot, and notifies only
 * real differences, once.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import { Bed, directoryAndSmtp } from './harness.js';
import { counts, record, tally } from './summary.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('fault: the directory is not the one the state knows', () => {
  if (!samba) return;
  const shared = directoryAndSmtp(samba);

  const cases = [
    {
      name: 'restore: another invocationId',
      column: 'invocation_id',
      value: '00000000-0000-4000-8000-000000000000',
    },
    {
      name: 'failover: another DC',
      column: 'ds_service_name',
      value:
        'CN=NTDS Settings,CN=DC9,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=example,DC=test',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: a full diff; real differences notified once, what was already told not again`, async () => {
      const { admin, smtp } = shared;
      const tag = c.column === 'invocation_id' ? 'inv' : 'dsa';
      const users: string[] = [];
      const bed = await Bed.create(
        admin,
        samba,
        `identity-${tag}`,
        async (ou) => {
          for (let i = 0; i < 10; i++) {
            users.push(
              await admin.user(
                ou,
                `${tag}${i}`,
                { mail: `${tag}${i}@example.test` },
                { password: 'Str0ng!Passw0rd' },
              ),
            );
          }
        },
        { smtpPort: smtp.port, extra: 'notify: { objectModified: true }' },
      );
      // Told by a normal cycle before the identity changes: must not be told again.
      await admin.modify(users[0]!, 'replace', 'title', [`${tag}-told-before`]);
      expect((await bed.run('once')).code).toBe(0);

      const db = new Database(bed.db);
      db.prepare(`UPDATE directory_state SET ${c.column} = ?`).run(c.value);
      db.close();
      // Real differences the full read must find: two modified, one deleted (its manager
      // is nobody, so it makes no mail), one created.
      await admin.modify(users[1]!, 'replace', 'title', [`${tag}-after-1`]);
      await admin.modify(users[2]!, 'replace', 'department', [`${tag}-after-2`]);
      await admin.delete(users[3]!);
      await admin.user(
        bed.ou,
        `${tag}new`,
        { mail: `${tag}new@example.test` },
        { password: 'Str0ng!Passw0rd' },
      );

      const before = smtp.messages.length;
      const resync = await bed.run('once');
      expect(resync.code, resync.stderr).toBe(0);
      expect(resync.stdout).toMatch(/^resync: /m);
      expect((await bed.run('once')).stdout).toMatch(/^incremental: nothing changed/m);
      const mail = smtp.messages.slice(before).map((m) => ({ to: m.to, text: m.parsed.text ?? '' }));
      const expected = [
        { to: `${tag}1@example.test`, marker: `${tag}-after-1` },
        { to: `${tag}2@example.test`, marker: `${tag}-after-2` },
      ];
      const result = tally(expected, mail);
      record({
        scenario: `identity: ${c.name}`,
        faults: `state's ${c.column} replaced`,
        changes: 4,
        expected: expected.length,
        ...counts(result),
      });
      expect(result.lost).toEqual([]);
      expect(result.duplicated).toBe(0);
      // Nothing else: not the change told before, not the unchanged users.
      expect(mail.flatMap((m) => m.to).sort()).toEqual([`${tag}1@example.test`, `${tag}2@example.test`]);
      const events = JSON.parse((await bed.run('history', '--since', '1h', '--json')).stdout) as {
        type: string;
      }[];
      expect(events.map((e) => e.type).sort()).toEqual([
        'object.created',
        'object.deleted',
        'object.modified',
        'object.modified',
        'object.modified',
      ]);
    });
  }
});
