/**
 * The state file: private to its owner, and when it is damaged (truncated, a page overwritten,
 * not a database at all), adnotify stops with a message that says how to take a new baseline,
 * leaves the file as it found it, and sends nothing; never a silent rebuild that would mail
 * every object as new.
 */
import {
  copyFileSync,
  existsSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import { Bed, directoryAndSmtp } from './harness.js';
import { record } from './summary.js';

const samba = sambaOrNull();
const mode = (path: string) => statSync(path).mode & 0o777;

describe.skipIf(!samba)('fault: the state database', () => {
  if (!samba) return;
  const shared = directoryAndSmtp(samba);

  it('is 0600 in a 0700 directory; damaged, it is refused with the way to re-baseline, untouched, and nothing is sent', async () => {
    const { admin, smtp } = shared;
    const users: string[] = [];
    const bed = await Bed.create(
      admin,
      samba,
      'state',
      async (ou) => {
        for (let i = 0; i < 30; i++) {
          users.push(
            await admin.user(
              ou,
              `state${i}`,
              { mail: `state${i}@example.test` },
              { password: 'Str0ng!Passw0rd' },
            ),
          );
        }
      },
      { smtpPort: smtp.port, extra: 'notify: { objectModified: true }' },
    );
    await admin.modify(users[0]!, 'replace', 'title', ['state-before']);
    expect((await bed.run('once')).code).toBe(0);
    expect(smtp.messages).toHaveLength(1);

    expect(mode(bed.db)).toBe(0o600);
    expect(mode(dirname(bed.db))).toBe(0o700);
    for (const extra of ['-wal', '-shm']) {
      if (existsSync(bed.db + extra)) expect(mode(bed.db + extra), extra).toBe(0o600);
    }

    // Everything in the main file, so that damaging it damages what adnotify would read.
    const db = new Database(bed.db);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const good = `${bed.db}.good`;
    copyFileSync(bed.db, good);
    const size = statSync(good).size;
    const pageSize = 4096;

    const damages: [string, () => void][] = [
      [
        'truncated to half',
        () => {
          truncateSync(bed.db, Math.floor(size / pageSize / 2) * pageSize);
        },
      ],
      [
        'a page in the middle overwritten',
        () => {
          const bytes = readFileSync(good);
          const page = Math.floor(size / pageSize / 2);
          bytes.fill(0x5a, page * pageSize, (page + 1) * pageSize);
          writeFileSync(bed.db, bytes);
        },
      ],
      [
        'not a database',
        () => {
          writeFileSync(bed.db, Buffer.alloc(size, 0x41));
        },
      ],
    ];
    // A change waits in the directory while the state is damaged: it must not be mailed
    // together with every other object as new (the new baseline absorbs it, as documented).
    await admin.modify(users[1]!, 'replace', 'title', ['state-while-damaged']);
    let refused = 0;
    for (const [name, damage] of damages) {
      copyFileSync(good, bed.db);
      damage();
      const before = readFileSync(bed.db);
      for (const command of [['once'], ['status'], ['outbox', 'list']]) {
        const result = await bed.run(...command);
        expect(result.code, `${name}: ${command.join(' ')}: ${result.stderr}`).toBe(70);
        expect(result.stderr, name).toMatch(/is damaged|not a usable adnotify state database/);
        expect(result.stderr, name).toMatch(/Move it aside .*adnotify once.* new baseline/);
        refused++;
      }
      expect(readFileSync(bed.db).equals(before), `${name}: the file was changed`).toBe(true);
      expect(smtp.messages, name).toHaveLength(1);
    }

    // The documented way back: move the file (and its WAL) aside, take a new baseline.
    for (const extra of ['', '-wal', '-shm']) {
      if (existsSync(bed.db + extra)) renameSync(bed.db + extra, `${bed.db}${extra}.damaged`);
    }
    const baseline = await bed.run('once');
    expect(baseline.code, baseline.stderr).toBe(0);
    expect(baseline.stdout).toMatch(/^baseline: /);
    expect(smtp.messages).toHaveLength(1);
    expect(mode(bed.db)).toBe(0o600);
    await admin.modify(users[2]!, 'replace', 'title', ['state-after']);
    expect((await bed.run('once')).code).toBe(0);
    expect(smtp.messages).toHaveLength(2);
    expect(smtp.messages[1]!.to).toEqual(['state2@example.test']);

    record({
      scenario: 'damaged state database',
      faults: 'truncated, page overwritten, not a database',
      changes: 3,
      expected: 2,
      delivered: smtp.messages.length,
      duplicated: 0,
      lost: 0,
    });
    expect(refused).toBe(9);
  });
});
