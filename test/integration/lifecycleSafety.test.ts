/**
 * The lifecycle job as a privileged writer (issue 13), against Samba: a temporary grant always
 * ends, whatever fails or crashes on the way; a removal never turns into a grant; protected
 * groups need --allow-protected; every schedule says who created it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Metrics } from '../../src/daemon/metrics.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { sambaOrNull, uniqueName } from '../support/cli.js';
import { denyRead } from '../support/samba.js';
import { startDaemon } from '../support/daemon.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { DAY, LifecycleBed } from '../support/lifecycleBed.js';

const samba = sambaOrNull();

interface ListedSchedule {
  id: number;
  state: string;
  resumeFrom: string | null;
  lastError: string | null;
  createdBy: string | null;
}

describe.skipIf(!samba)('lifecycle safety (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  let bed: LifecycleBed;

  beforeAll(async () => {
    bed = await LifecycleBed.start(samba);
  });
  afterAll(async () => {
    await bed.stop();
  });

  const membership = '  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 0 }';
  const list = async (watch: Parameters<LifecycleBed['ok']>[0]) =>
    JSON.parse((await bed.ok(watch, 'temp', 'list', '--all', '--json')).stdout) as ListedSchedule[];

  it('a schedule whose group was deleted fails on its own; the next one-day membership still ends on time', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await bed.setup(
      'tmpgone',
      async (ou) => {
        dn['ann'] = await bed.person(ou, 'Ann');
        dn['gone'] = await bed.admin.group(ou, uniqueName('gone').slice(0, 20), { displayName: 'Gone' });
        dn['club'] = await bed.admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      membership,
    );
    const first = await bed.tempAdd(watch, 'member', dn['gone']!, dn['ann']!, '1d');
    const second = await bed.tempAdd(watch, 'member', dn['club']!, dn['ann']!, '1d');
    await bed.admin.delete(dn['gone']!);

    const run = await bed.ok(watch, 'temp', 'apply');
    expect(run.stdout).toMatch(
      new RegExp(`^FAILED #${first.stdout.trim()} start .*no longer exists.*\\(not retried\\)`, 'm'),
    );
    expect(run.stdout).toMatch(new RegExp(`^applied #${second.stdout.trim()} start`, 'm'));
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([dn['ann']]);
    expect(inbox()).toEqual([`${await bed.mailOf(dn['ann']!)}: You joined Club`]);

    const listed = await list(watch);
    expect(listed).toMatchObject([
      {
        id: Number(first.stdout),
        state: 'failed',
        resumeFrom: null,
        lastError: expect.stringMatching(/no longer exists/) as unknown,
      },
      { id: Number(second.stdout), state: 'active', lastError: null },
    ]);
    const text = await bed.ok(watch, 'temp', 'list');
    expect(text.stdout).toMatch(/last error: .*no longer exists.* \(1 failed attempts; not retried\)/);

    // /metrics (the daemon's registry over the same state file) shows the failure.
    const store = SqliteStore.open(watch.db);
    try {
      const metrics = await new Metrics(() => store).registry.metrics();
      expect(metrics).toMatch(/^adnotify_lifecycle_schedules\{state="failed-final"\} 1$/m);
      expect(metrics).toMatch(/^adnotify_lifecycle_schedules\{state="active"\} 1$/m);
    } finally {
      await store.close();
    }

    at(1.1 * DAY);
    const end = await bed.ok(watch, 'temp', 'apply');
    expect(end.stdout).toMatch(new RegExp(`^applied #${second.stdout.trim()} end`, 'm'));
    expect(end.stdout).not.toContain(`#${first.stdout.trim()}`); // not retried
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([]);
    expect((await list(watch)).map((s) => s.state)).toEqual(['failed', 'done']);
  });

  it('a failure that may clear (no write access) is recorded as failed, retried, and the end still runs at its time', async () => {
    const dn: Record<string, string> = {};
    let reader = '';
    const { watch, at } = await bed.setup(
      'tmpretry',
      async (ou) => {
        reader = uniqueName('rd').slice(0, 18);
        await bed.admin.user(ou, reader, {}, { password: 'Str0ng!Passw0rd' });
        dn['bea'] = await bed.person(ou, 'Bea');
        dn['club'] = await bed.admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      membership,
    );
    const id = (await bed.tempAdd(watch, 'member', dn['club']!, dn['bea']!, '1d')).stdout.trim();
    const asAdmin = watch.env;
    const config = watch.config;
    const text = readFileSync(config, 'utf8');
    writeFileSync(config, text.replace(/bindDN: .*/, `bindDN: "${reader}@example.test"`));
    watch.env = { ...asAdmin, TEST_BIND_PASSWORD: 'Str0ng!Passw0rd' };
    const denied = await watch.run('temp', 'apply');
    expect(denied.stdout).toMatch(
      new RegExp(`^FAILED #${id} start .*may not make this change.*\\(retried next run\\)`, 'm'),
    );
    expect(await list(watch)).toMatchObject([{ state: 'failed', resumeFrom: 'scheduled' }]);

    // Rights restored after the end time: the start is never applied late, nothing is left.
    writeFileSync(config, text);
    watch.env = asAdmin;
    await bed.admin.addMembers(dn['club']!, [dn['bea']!]); // as if a crashed start had reached the DC
    at(1.1 * DAY);
    const end = await bed.ok(watch, 'temp', 'apply');
    expect(end.stdout).toMatch(new RegExp(`^applied #${id} end .*start was never applied`, 'm'));
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([]);
    expect(await list(watch)).toMatchObject([{ state: 'done', resumeFrom: null }]);
  });

  it('a kill between the directory write and the commit: the next run completes the step, and the end removes the member', async () => {
    const proxy = await LdapProxy.start(samba);
    try {
      const dn: Record<string, string> = {};
      const { watch, at, inbox } = await bed.setup(
        'tmpkill',
        async (ou) => {
          dn['cal'] = await bed.person(ou, 'Cal');
          dn['club'] = await bed.admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
        },
        membership,
        '',
        { urls: [proxy.url] },
      );
      const id = (await bed.tempAdd(watch, 'member', dn['club']!, dn['cal']!, '1d')).stdout.trim();

      proxy.holdModifyResponses();
      const child = startDaemon(watch.config, watch.env, { args: ['temp', 'apply'] });
      try {
        for (let i = 0; i < 400 && proxy.heldModifyResponses === 0; i++)
          await new Promise((r) => setTimeout(r, 25));
        expect(proxy.heldModifyResponses, child.output()).toBe(1);
      } finally {
        child.child.kill('SIGKILL');
      }
      expect((await child.exited).signal).toBe('SIGKILL');
      // The DC made the change; the state never heard of it.
      expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([dn['cal']]);
      expect(await list(watch)).toMatchObject([{ state: 'scheduled' }]);
      expect(inbox()).toEqual([]);

      await proxy.stop();
      const direct = await LdapProxy.start(samba);
      try {
        // Every later run goes through a proxy that holds nothing.
        writeFileSync(watch.config, readFileSync(watch.config, 'utf8').replace(proxy.url, direct.url));
        direct.reset();
        const again = await bed.ok(watch, 'temp', 'apply');
        expect(again.stdout).toMatch(new RegExp(`^applied #${id} start`, 'm'));
        expect(direct.operations).not.toContain('modify'); // seen in place, not written again
        expect(inbox()).toEqual([`${await bed.mailOf(dn['cal']!)}: You joined Club`]);
        expect(await bed.pollEvents(watch)).toEqual([]);

        at(1.1 * DAY);
        await bed.ok(watch, 'temp', 'apply');
        expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([]);
        expect(await list(watch)).toMatchObject([{ state: 'done' }]);
      } finally {
        await direct.stop();
      }
    } finally {
      await proxy.stop();
    }
  });

  it('a removal refuses a non-member; at its end a disabled or deleted account is not put back, and the owners are told', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await bed.setup(
      'tmprejoin',
      async (ou) => {
        dn['boss'] = await bed.person(ou, 'Boss');
        dn['dee'] = await bed.person(ou, 'Dee');
        dn['eli'] = await bed.person(ou, 'Eli');
        dn['fay'] = await bed.person(ou, 'Fay');
        dn['out'] = await bed.person(ou, 'Out');
        dn['club'] = await bed.admin.group(ou, uniqueName('club').slice(0, 20), {
          displayName: 'Club',
          managedBy: dn['boss'],
        });
        await bed.admin.addMembers(dn['club'], [dn['dee'], dn['eli'], dn['fay']]);
      },
      membership,
      '  to: [helpdesk@example.test]',
    );
    const refused = await watch.run(
      'temp',
      'add',
      'removal',
      '--group',
      dn['club']!,
      '--member',
      dn['out']!,
      '--until',
      '1d',
    );
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain(`${dn['out']!} is not a member of ${dn['club']!}`);
    expect(await bed.valuesOf(dn['club']!, 'member')).not.toContain(dn['out']);

    for (const who of ['dee', 'eli', 'fay']) await bed.tempAdd(watch, 'removal', dn['club']!, dn[who]!, '1d');
    await bed.ok(watch, 'temp', 'apply');
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([]);
    const [boss, fay] = await Promise.all([bed.mailOf(dn['boss']!), bed.mailOf(dn['fay']!)]);
    const left = inbox().length;

    await bed.admin.modify(dn['dee']!, 'replace', 'userAccountControl', ['514']); // disabled
    await bed.admin.delete(dn['eli']!);
    at(1.1 * DAY);
    const end = await bed.ok(watch, 'temp', 'apply');
    expect(end.stdout).toMatch(
      /applied #\d+ end \(lifecycle\.not-rejoined\).*Dee.*not put back: the account is disabled/,
    );
    expect(end.stdout).toMatch(
      /applied #\d+ end \(lifecycle\.not-rejoined\).*Eli.*not put back: the account has been deleted/,
    );
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([dn['fay']]);
    expect(inbox().slice(left).sort()).toEqual(
      [
        `${boss}: Dee was not put back into Club`,
        `${boss}: Eli was not put back into Club`,
        `${fay}: You joined Club`,
        'helpdesk@example.test: [adnotify] Dee was not put back into Club',
        'helpdesk@example.test: [adnotify] Eli was not put back into Club',
        'helpdesk@example.test: [adnotify] Fay joined Club',
      ].sort(),
    );
    const history = JSON.parse((await bed.ok(watch, 'history', '--since', '30d', '--json')).stdout) as {
      type: string;
      reason?: string;
    }[];
    expect(
      history
        .filter((e) => e.type === 'lifecycle.not-rejoined')
        .map((e) => e.reason)
        .sort(),
    ).toEqual(['the account has been deleted', 'the account is disabled']);
    // The poll reports the disabling and the deletion, not the job's own membership changes.
    expect((await bed.pollEvents(watch)).map((e) => e.type).sort()).toEqual([
      'object.deleted',
      'object.modified',
    ]);
  });

  it('a temporary grant of a mail-less account to a protected group tells the administrators at its start and end', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, smtp } = await bed.setup(
      'tmpadm',
      async (ou) => {
        dn['ivan'] = await bed.admin.person(ou, 'Ivan', {}, null);
        dn['ops'] = await bed.admin.group(ou, uniqueName('ops').slice(0, 20), {
          displayName: 'Ops Admins',
          adminCount: '1',
        });
      },
      membership,
      '  to: [helpdesk@example.test]',
    );
    watch.env = { ...watch.env, SUDO_USER: 'olga-operator' };
    await bed.tempAdd(watch, 'member', dn['ops']!, dn['ivan']!, '1d', '--allow-protected');

    await bed.ok(watch, 'temp', 'apply');
    at(DAY + 60_000);
    await bed.ok(watch, 'temp', 'apply');

    expect(smtp.inbox()).toEqual([
      'helpdesk@example.test: [adnotify] Protected group: Ivan joined Ops Admins',
      'helpdesk@example.test: [adnotify] Protected group: Ivan left Ops Admins',
    ]);
    const text = smtp.messages[0]?.parsed.text ?? '';
    expect(text).toContain('scheduled by olga-operator');
    expect(text).toMatch(/Schedule #\d+: from .* UTC until .* UTC/);
    expect(await bed.valuesOf(dn['ops']!, 'member')).toEqual([]);
    // The job told of its own changes: the poll after it stays silent.
    expect(await bed.pollEvents(watch)).toEqual([]);
  });

  it('a temporary member the bind account can no longer read is still removed at the end, by GUID', async () => {
    const dn: Record<string, string> = {};
    const { watch, at } = await bed.setup(
      'tmphide',
      async (ou) => {
        dn['ann'] = await bed.person(ou, 'Ann');
        dn['club'] = await bed.admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      membership,
    );
    const id = (await bed.tempAdd(watch, 'member', dn['club']!, dn['ann']!, '1d')).stdout.trim();
    await bed.ok(watch, 'temp', 'apply');
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([dn['ann']]);
    denyRead(samba, dn['ann']!); // the member no longer matches any search of the bind account

    at(DAY + 60_000);
    const ended = await bed.ok(watch, 'temp', 'apply');

    expect(ended.stdout, ended.stdout).not.toContain('FAILED');
    expect(await bed.valuesOf(dn['club']!, 'member')).toEqual([]);
    expect((await list(watch)).find((s) => s.id === Number(id))).toMatchObject({ state: 'done' });
  });

  it('temp add refuses a protected group without --allow-protected; each schedule records who created it', async () => {
    const dn: Record<string, string> = {};
    const { watch } = await bed.setup(
      'tmpprot',
      async (ou) => {
        dn['gus'] = await bed.person(ou, 'Gus');
      },
      membership,
    );
    const domainAdmins = `CN=Domain Admins,CN=Users,${samba.baseDN}`;
    const refused = await watch.run(
      'temp',
      'add',
      'member',
      '--group',
      domainAdmins,
      '--member',
      dn['gus']!,
      '--until',
      '1h',
    );
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain(`${domainAdmins} is protected (adminCount=1`);
    expect(refused.stderr).toContain('--allow-protected');

    watch.env = { ...watch.env, SUDO_USER: 'olga-operator' };
    const allowed = await bed.tempAdd(watch, 'member', domainAdmins, dn['gus']!, '1h', '--allow-protected');
    const warning = allowed.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['level'] === 'warn' && String(l['message']).includes('protected'));
    expect(warning).toMatchObject({ target: domainAdmins, subject: dn['gus'], createdBy: 'olga-operator' });
    await bed.ok(watch, 'temp', 'cancel', allowed.stdout.trim()); // nothing is written to Domain Admins

    const plain = { ...watch.env };
    delete plain['SUDO_USER'];
    watch.env = plain;
    const listed = await list(watch);
    expect(listed.map((s) => s.createdBy)).toEqual(['olga-operator']);
    const own = await bed.tempAdd(
      watch,
      'member',
      domainAdmins.replace('Domain Admins', 'Domain Users'),
      dn['gus']!,
      '1h',
    );
    expect((await list(watch)).find((s) => s.id === Number(own.stdout))?.createdBy).toBe(userInfo().username);
    expect((await bed.ok(watch, 'temp', 'list')).stdout).toContain(`by ${userInfo().username}`);
    await bed.ok(watch, 'temp', 'cancel', own.stdout.trim());
  });
});
