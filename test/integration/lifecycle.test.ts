/**
 * The lifecycle job against Samba and an SMTP capture, with a movable clock
 * (ADNOTIFY_FAKE_NOW). Additional owners use msExchCoManagedByLink, which the test DC's schema
 * is extended with (test/support/samba.ts); additional managers use the standard
 * multi-valued DN attribute `secretary` (directory.additionalManagersAttribute: secretary).
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { DAY, LifecycleBed } from '../support/lifecycleBed.js';
import type { DirectoryAdmin } from '../support/seed.js';
import type { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('lifecycle: temporary memberships, owners and managers (Samba AD DC + SMTP)', () => {
  if (!samba) return;
  let bed: LifecycleBed;
  let admin: DirectoryAdmin;

  beforeAll(async () => {
    bed = await LifecycleBed.start(samba);
    admin = bed.admin;
  });
  afterAll(async () => {
    await bed.stop();
  });

  const person = (ou: string, name: string, attrs: Record<string, string> = {}) =>
    bed.person(ou, name, attrs);
  const mailOf = (dn: string) => bed.mailOf(dn);
  const valuesOf = (dn: string, attribute: string) => bed.valuesOf(dn, attribute);
  const setup = (name: string, seed: (ou: string) => Promise<void>, lifecycle: string, smtpExtra = '') =>
    bed.setup(name, seed, lifecycle, smtpExtra);
  const pollEvents = (watch: Watch) => bed.pollEvents(watch);
  const ok = (watch: Watch, ...args: string[]) => bed.ok(watch, ...args);
  const tempAdd = (...args: Parameters<LifecycleBed['tempAdd']>) => bed.tempAdd(...args);

  it('a temporary member joins, is warned before leaving, leaves; the poll cycle does not report it again', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await setup(
      'tmpmember',
      async (ou) => {
        dn['una'] = await person(ou, 'Una');
        dn['old'] = await person(ou, 'Old');
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
        await admin.addMembers(dn['club'], [dn['old']]);
      },
      '  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 2 }',
      '  to: [helpdesk@example.test]',
    );
    const una = await mailOf(dn['una']!);
    const add = await tempAdd(watch, 'member', dn['club']!, una, '5d');
    const id = add.stdout.trim();
    expect(id).toMatch(/^\d+$/);
    expect(add.stderr).toContain(`schedule #${id}: temporary member ${dn['una']!} of ${dn['club']!}`);

    const list = await ok(watch, 'temp', 'list', '--json');
    expect(JSON.parse(list.stdout)).toMatchObject([{ id: Number(id), kind: 'member', state: 'scheduled' }]);

    const dry = await ok(watch, 'temp', 'apply', '--dry-run');
    expect(dry.stdout).toMatch(new RegExp(`^would apply #${id} start \\(lifecycle\\.joined\\)`, 'm'));
    expect(await valuesOf(dn['club']!, 'member')).not.toContain(dn['una']);

    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'member')).toContain(dn['una']);
    expect(inbox()).toEqual([`${una}: You joined Club`, 'helpdesk@example.test: [adnotify] Una joined Club']);
    expect(inbox().length).toBe(2);

    // The poll cycle sees the group changed, and reports nothing: the job already told.
    const cycle = await watch.cycle();
    expect(cycle.stdout).toMatch(/^incremental: 0 events from 1 changed objects/m);
    expect(cycle.events.map((e) => e.type)).toEqual(['lifecycle.joined']); // recorded by the job
    expect(inbox()).toHaveLength(2);

    // Nothing is due again until two days before the end, then one warning, once.
    await ok(watch, 'temp', 'apply');
    expect(inbox()).toHaveLength(2);
    at(3.5 * DAY);
    await ok(watch, 'temp', 'apply');
    await ok(watch, 'temp', 'apply');
    expect(inbox().slice(2)).toEqual([
      expect.stringMatching(
        new RegExp(`^${una}: You will leave Club on \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`),
      ),
      expect.stringMatching(/^helpdesk@example\.test: \[adnotify\] Una will leave Club on /),
    ]);

    at(5.1 * DAY);
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'member')).not.toContain(dn['una']);
    expect(await valuesOf(dn['club']!, 'member')).toContain(dn['old']);
    expect(inbox().slice(4)).toEqual([
      `${una}: You left Club`,
      'helpdesk@example.test: [adnotify] Una left Club',
    ]);
    expect(await pollEvents(watch)).toEqual([]);

    const history = await ok(watch, 'history', '--since', '30d', '--json');
    const types = (JSON.parse(history.stdout) as { type: string }[]).map((e) => e.type);
    expect(types).toEqual(['lifecycle.joined', 'lifecycle.leaving-soon', 'lifecycle.left']);
    const done = await ok(watch, 'temp', 'list', '--all', '--json');
    expect(JSON.parse(done.stdout)).toMatchObject([{ id: Number(id), state: 'done' }]);
  });

  it('with the membership options off, the changes are made and nobody is mailed', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await setup(
      'tmpquiet',
      async (ou) => {
        dn['vi'] = await person(ou, 'Vi');
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      '  membership: { notifyOnJoin: false, notifyOnLeave: false, daysBeforeLeave: 0 }',
    );
    await tempAdd(watch, 'member', dn['club']!, dn['vi']!, '1d');
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'member')).toContain(dn['vi']);
    at(0.9 * DAY);
    await ok(watch, 'temp', 'apply');
    at(1.1 * DAY);
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'member')).not.toContain(dn['vi']);
    expect(inbox()).toEqual([]);
  });

  it('a temporary removal leaves now and rejoins at the end', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await setup(
      'tmpremoval',
      async (ou) => {
        dn['wim'] = await person(ou, 'Wim');
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
        await admin.addMembers(dn['club'], [dn['wim']]);
      },
      '  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 2 }',
    );
    const wim = await mailOf(dn['wim']!);
    await tempAdd(watch, 'removal', dn['club']!, dn['wim']!, '2d');
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'member')).not.toContain(dn['wim']);
    expect(inbox()).toEqual([`${wim}: You left Club`]);
    at(2.1 * DAY);
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'member')).toContain(dn['wim']);
    expect(inbox()).toEqual([`${wim}: You left Club`, `${wim}: You joined Club`]);
    expect(await pollEvents(watch)).toEqual([]);
  });

  it('a temporary removal of a member an administrator already removed does not put the member back', async () => {
    const dn: Record<string, string> = {};
    const { watch, at } = await setup(
      'tmpgone',
      async (ou) => {
        dn['wim'] = await person(ou, 'Wim');
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
        await admin.addMembers(dn['club'], [dn['wim']]);
      },
      '  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 0 }',
    );
    await tempAdd(watch, 'removal', dn['club']!, dn['wim']!, '2d', '--from', '1h');
    await admin.removeMembers(dn['club']!, [dn['wim']!]);
    at(2 * 3_600_000);
    await ok(watch, 'temp', 'apply');
    at(2.1 * DAY);
    const ended = await ok(watch, 'temp', 'apply');
    expect(ended.stdout).toContain('not in the group when the removal started');
    expect(await valuesOf(dn['club']!, 'member')).toEqual([]);
  });

  it('a temporary additional owner: the owner and the primary owner are told; a group owner tells its members', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await setup(
      'tmpowner',
      async (ou) => {
        dn['boss'] = await person(ou, 'Boss');
        dn['xia'] = await person(ou, 'Xia');
        dn['yul'] = await person(ou, 'Yul');
        dn['helpers'] = await admin.group(ou, uniqueName('helpers').slice(0, 20), { displayName: 'Helpers' });
        await admin.addMembers(dn['helpers'], [dn['yul']]);
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), {
          displayName: 'Club',
          managedBy: dn['boss'],
        });
      },
      '  managedBy: { notifyOnAdd: true, notifyOnRemove: true, daysBeforeRemove: 1 }',
    );
    const [boss, xia, yul] = await Promise.all([mailOf(dn['boss']!), mailOf(dn['xia']!), mailOf(dn['yul']!)]);
    await tempAdd(watch, 'owner', dn['club']!, xia, '3d');
    await tempAdd(watch, 'owner', dn['club']!, dn['helpers']!, '3d', '--from', '1d');
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'msExchCoManagedByLink')).toEqual([dn['xia']]);
    expect(inbox().sort()).toEqual([
      `${boss}: Xia is now an additional owner of Club`,
      `${xia}: You are now an additional owner of Club`,
    ]);
    expect(await pollEvents(watch)).toEqual([]);

    at(1.1 * DAY);
    await ok(watch, 'temp', 'apply');
    expect((await valuesOf(dn['club']!, 'msExchCoManagedByLink')).sort()).toEqual(
      [dn['helpers'], dn['xia']].sort(),
    );
    expect(inbox().slice(2).sort()).toEqual([
      `${boss}: Helpers is now an additional owner of Club`,
      `${yul}: Helpers is now an additional owner of Club`,
    ]);

    at(2.5 * DAY);
    await ok(watch, 'temp', 'apply');
    expect(inbox().slice(4).sort()).toEqual([
      expect.stringMatching(new RegExp(`^${xia}: You will stop being an additional owner of Club on `)),
      expect.stringMatching(new RegExp(`^${yul}: Helpers will stop being an additional owner of Club on `)),
    ]);
    at(3.1 * DAY);
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['club']!, 'msExchCoManagedByLink')).toEqual([]);
    expect(inbox().slice(6).sort()).toEqual([
      `${boss}: Helpers is no longer an additional owner of Club`,
      `${boss}: Xia is no longer an additional owner of Club`,
      `${xia}: You are no longer an additional owner of Club`,
      `${yul}: Helpers is no longer an additional owner of Club`,
    ]);
    expect(await pollEvents(watch)).toEqual([]);
  });

  it('a temporary additional manager (secretary); sameAsMembership takes the membership options', async () => {
    const dn: Record<string, string> = {};
    const { watch, at, inbox } = await setup(
      'tmpmanager',
      async (ou) => {
        dn['chief'] = await person(ou, 'Chief');
        dn['zed'] = await person(ou, 'Zed');
        dn['amy'] = await person(ou, 'Amy', { manager: dn['chief'] });
      },
      `  membership: { notifyOnJoin: false, notifyOnLeave: true, daysBeforeLeave: 0 }
  managedBy: { sameAsMembership: true, notifyOnAdd: true, notifyOnRemove: false, daysBeforeRemove: 5 }`,
    );
    const [chief, zed] = await Promise.all([mailOf(dn['chief']!), mailOf(dn['zed']!)]);
    await tempAdd(watch, 'manager', dn['amy']!, zed, '2d');
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['amy']!, 'secretary')).toEqual([dn['zed']]);
    expect(inbox()).toEqual([]); // notifyOnJoin false stands for notifyOnAdd
    at(2.1 * DAY);
    await ok(watch, 'temp', 'apply');
    expect(await valuesOf(dn['amy']!, 'secretary')).toEqual([]);
    expect(inbox().sort()).toEqual([
      `${chief}: Zed is no longer an additional manager of Amy`,
      `${zed}: You are no longer an additional manager of Amy`,
    ]);
    expect(await pollEvents(watch)).toEqual([]);
  });

  it('survives a restart between scheduling and execution, and a crash after the directory change', async () => {
    const dn: Record<string, string> = {};
    const { watch, inbox } = await setup(
      'tmprestart',
      async (ou) => {
        dn['bo'] = await person(ou, 'Bo');
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      '  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 0 }',
    );
    await tempAdd(watch, 'member', dn['club']!, dn['bo']!, '3d', '--from', '2026-01-01');
    // As if the job had added Bo and crashed before recording it: applying again is harmless.
    await admin.addMembers(dn['club']!, [dn['bo']!]);
    const first = await ok(watch, 'temp', 'apply');
    expect(first.stdout).toMatch(/^applied #\d+ start \(lifecycle\.joined\)/m);
    const second = await ok(watch, 'temp', 'apply');
    expect(second.stdout).toMatch(/^temp: nothing due$/m);
    expect(inbox()).toEqual([`${await mailOf(dn['bo']!)}: You joined Club`]);
    expect(await valuesOf(dn['club']!, 'member')).toEqual([dn['bo']]);
  });

  it('without write access the step is reported, kept and retried; names must be unambiguous', async () => {
    const dn: Record<string, string> = {};
    let reader = '';
    const { watch, inbox } = await setup(
      'tmpdenied',
      async (ou) => {
        reader = uniqueName('rd').slice(0, 18);
        await admin.user(ou, reader, {}, { password: 'Str0ng!Passw0rd' });
        dn['cy'] = await person(ou, 'Cy');
        dn['twin1'] = await admin.contact(ou, 'Twin One', { mail: `twin-${reader}@example.test` });
        dn['twin2'] = await admin.contact(ou, 'Twin Two', { mail: `twin-${reader}@example.test` });
        dn['club'] = await admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      '  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 0 }',
    );
    const ambiguous = await watch.run(
      'temp',
      'add',
      'member',
      '--group',
      dn['club']!,
      '--member',
      `twin-${reader}@example.test`,
      '--until',
      '1d',
    );
    expect(ambiguous.code).toBe(70);
    expect(ambiguous.stderr).toContain(dn['twin1']!);
    expect(ambiguous.stderr).toContain(dn['twin2']!);
    const unknown = await watch.run(
      'temp',
      'add',
      'member',
      '--group',
      'no-such-group-x',
      '--member',
      dn['cy']!,
      '--until',
      '1d',
    );
    expect(unknown.stderr).toMatch(/no object is named "no-such-group-x"/);

    await tempAdd(watch, 'member', dn['club']!, dn['cy']!, '1d');
    const adminConfig = watch.config;
    const text = readFileSync(adminConfig, 'utf8');
    writeFileSync(adminConfig, text.replace(/bindDN: .*/, `bindDN: "${reader}@example.test"`));
    const adminEnv = watch.env;
    watch.env = { ...adminEnv, TEST_BIND_PASSWORD: 'Str0ng!Passw0rd' };
    const denied = await watch.run('temp', 'apply');
    watch.env = adminEnv;
    expect(denied.stdout).toMatch(/^FAILED #\d+ start .*may not make this change/m);
    const list = await ok(watch, 'temp', 'list');
    expect(list.stdout).toMatch(/last error: .*may not make this change/);
    expect(await valuesOf(dn['club']!, 'member')).toEqual([]);

    writeFileSync(adminConfig, text);
    const retried = await ok(watch, 'temp', 'apply');
    expect(retried.stdout).toMatch(/^applied #\d+ start/m);
    expect(await valuesOf(dn['club']!, 'member')).toEqual([dn['cy']]);
    expect(inbox()).toHaveLength(1);
  });
});
