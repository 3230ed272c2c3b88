/**
 * Operating the outbox and the state's size (issue 14), end to end against Samba and an SMTP
 * capture: `outbox release --cycle N`, `outbox discard ID|--held|--failed`, and the daily
 * prune of what is older than state.retentionDays.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();
const DAY = 86_400_000;

interface Listed {
  id: number;
  status: string;
  cycle: number | null;
  kind: string;
}

describe.skipIf(!samba)('outbox administration and retention (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);

  it('held messages are released by cycle or discarded; a daily prune removes what is older than retentionDays', async () => {
    const users: string[] = [];
    let group = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'retain',
      async (ou) => {
        for (const name of ['Ada', 'Bob', 'Cyd', 'Dan']) {
          users.push(
            await bed.admin.user(
              ou,
              `${name}${uniqueName('').slice(-6)}`,
              { mail: `${name.toLowerCase()}-retain@example.test` },
              { password: 'Str0ng!Passw0rd' },
            ),
          );
        }
        group = await bed.admin.group(ou, uniqueName('grp').slice(0, 20));
      },
      {
        smtpPort: bed.smtp.port,
        smtpExtra: '  to: [helpdesk@example.test]',
        extra: 'notify: { newMemberOnAdd: true }\ndelivery: { maxMessagesPerCycle: 1 }\n',
      },
    );
    const text = readFileSync(watch.config, 'utf8');
    writeFileSync(watch.config, text.replace(/^state:\n/m, 'state:\n  retentionDays: 30\n'));
    const list = async () => JSON.parse((await watch.run('outbox', 'list', '--json')).stdout) as Listed[];
    const changes = async (members: string[]) => {
      await bed.admin.addMembers(group, members);
      const held = await watch.run('once'); // the flood guard logs at error level
      expect(held.stderr).toMatch(/flood guard/);
    };
    await changes([users[0]!, users[1]!]); // 2 members told + 1 bed.admin copy: held
    await changes([users[2]!, users[3]!]); // held again
    const held = (await list()).filter((m) => m.status === 'held');
    const cycles = [...new Set(held.map((m) => m.cycle))];
    expect(cycles).toHaveLength(2);
    const before = bed.smtp.messages.length; // the two flood alerts

    const release = await watch.run('outbox', 'release', '--cycle', String(cycles[0]));
    expect(release.code, release.stderr).toBe(0);
    expect(release.stdout).toMatch(/^outbox: 3 held messages of cycle \d+ released$/m);
    expect(
      bed.smtp.messages
        .slice(before)
        .flatMap((m) => m.to)
        .sort(),
    ).toEqual(['ada-retain@example.test', 'bob-retain@example.test', 'helpdesk@example.test']);

    const discard = await watch.run('outbox', 'discard', '--held');
    expect(discard.code, discard.stderr).toBe(0);
    expect(discard.stdout).toMatch(/^outbox: 3 held messages discarded$/m);
    expect((await list()).filter((m) => m.status === 'held')).toEqual([]);
    const sent = (await list()).find((m) => m.status === 'sent');
    const refused = await watch.run('outbox', 'discard', String(sent?.id));
    expect(refused.code).toBe(64);
    expect(refused.stderr).toMatch(/was sent already/);
    expect((await watch.run('outbox', 'discard')).code).toBe(64);
    expect((await watch.run('outbox', 'discard', '1', '--failed')).code).toBe(64);
    expect(bed.smtp.messages.length).toBe(before + 3);

    // Thirty-one days on, the next successful poll prunes events, sent messages and cycles.
    expect(
      (JSON.parse((await watch.run('history', '--since', '1h', '--json')).stdout) as unknown[]).length,
    ).toBe(4);
    watch.env = { ...watch.env, ADNOTIFY_FAKE_NOW: new Date(Date.now() + 31 * DAY).toISOString() };
    const later = await watch.run('once');
    expect(later.code, later.stderr).toBe(0);
    const pruned = later.stderr
      .split('\n')
      .find((l) => l.includes('pruned what is older than state.retentionDays'));
    expect(JSON.parse(pruned ?? '{}')).toMatchObject({ events: 4, messages: 5, retentionDays: 30 });
    expect(JSON.parse((await watch.run('history', '--since', '400d', '--json')).stdout)).toEqual([]);
    expect((await list()).filter((m) => m.status === 'sent')).toEqual([]);
    expect(
      watch.query<{ n: number }>('SELECT count(*) AS n FROM cycles WHERE kind != ?', 'baseline')[0]?.n,
    ).toBe(0);
    // Once a day: the next poll does not prune again.
    const again = await watch.run('once');
    expect(again.stderr).not.toMatch(/pruned/);
  });
});
