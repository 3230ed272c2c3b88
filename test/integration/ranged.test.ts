import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, tempDir, uniqueName, writeConfig } from '../support/cli.js';
import { DirectoryAdmin } from '../support/seed.js';

const samba = sambaOrNull();
const MEMBERS = 1_234;

describe.skipIf(!samba)(
  'a large group read through member;range=N-* yields every member (Samba AD DC)',
  () => {
    if (!samba) return;
    let admin: DirectoryAdmin;
    let ou: string;
    let groupGuid: string;
    const env = { TEST_BIND_PASSWORD: samba.password };

    beforeAll(async () => {
      admin = await DirectoryAdmin.connect(samba);
      ou = await admin.ou(uniqueName('ranged'));
      const people = await admin.ou('People', ou);
      const users: string[] = [];
      for (let i = 0; i < MEMBERS; i++) users.push(await admin.user(people, `rg${process.pid % 1000}-${i}`));
      const group = await admin.group(ou, `big-${process.pid}`);
      await admin.addMembers(group, users);
      groupGuid = await admin.guidOf(group);
    }, 300_000);

    afterAll(async () => {
      await admin.close();
    });

    async function baselineMembers(
      rangeSize: string | undefined,
    ): Promise<{ guids: Set<string>; log: string }> {
      const dir = tempDir();
      const config = writeConfig(dir, samba!, { baseDN: ou });
      const result = await runCli(['--config', config, 'once'], {
        ...env,
        ...(rangeSize ? { ADNOTIFY_MEMBER_RANGE_SIZE: rangeSize } : {}),
      });
      expect(result.code, result.stderr).toBe(0);
      const db = new Database(join(dir, 'state', 'adnotify.db'), { readonly: true });
      const guids = db
        .prepare('SELECT member_guid FROM memberships WHERE group_guid = ?')
        .pluck()
        .all(groupGuid) as string[];
      const userGuids = db.prepare("SELECT guid FROM objects WHERE class = 'user'").pluck().all() as string[];
      db.close();
      expect(new Set(guids)).toEqual(new Set(userGuids));
      return { guids: new Set(guids), log: result.stderr };
    }

    it('reads the group in explicit ranges of 500 and gets all members, keyed by GUID', async () => {
      const { guids, log } = await baselineMembers('500');
      expect(guids.size).toBe(MEMBERS);
      // 0-499 in the search, then 500-999, 1000-1499 (answered as 1000-*) by base reads.
      expect(log.match(/"message":"read member range"/g)).toHaveLength(2);
    });

    it('reads the same members in one piece when the server does not truncate', async () => {
      const { guids, log } = await baselineMembers(undefined);
      expect(guids.size).toBe(MEMBERS);
      expect(log).not.toMatch(/read member range/);
    });
  },
);
