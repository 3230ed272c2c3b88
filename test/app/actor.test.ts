/**
 * Who made a change, from an audit file the test writes as Samba does, on in-memory ports: the
 * actor named on the event and in the mail, told with loggedInUser, a change without a record
 * going out after waitSeconds with the actor unknown, and a restart reading on.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ActorResolver } from '../../src/actor/resolve.js';
import { runCycle } from '../../src/poll/cycle.js';
import type { DirectoryEntry } from '../../src/core/types.js';
import { appBed } from '../support/appBed.js';
import { sambaAuditLine } from '../support/auditLines.js';
import { tempDir } from '../support/cli.js';
import { DOMAIN } from '../support/fakeDirectory.js';

const line = (sid: string, dn: string, attributes: string[]) =>
  `${JSON.stringify({
    timestamp: '2026-12-01T08:00:30.000000+0000',
    type: 'dsdbChange',
    dsdbChange: {
      statusCode: 0,
      operation: 'Modify',
      userSid: sid,
      dn,
      attributes: Object.fromEntries(
        attributes.map((a) => [a, { actions: [{ action: 'replace', values: [{ value: 'secret-ish' }] }] }]),
      ),
    },
  })}\n`;

describe('the actor from a samba-audit file (in-memory ports)', () => {
  function setup(waitSeconds = 1, notify = 'loggedInUser: true') {
    const log = join(tempDir(), 'audit.log');
    writeFileSync(log, line('S-1-5-21-9-9-9-9', 'CN=Before,DC=x,DC=test', ['title'])); // before adnotify: never read
    const bed = appBed(
      `notify: { ${notify} }`,
      `actor: { source: samba-audit, paths: ["${log}"], waitSeconds: ${waitSeconds} }`,
    );
    const olga = bed.directory.user('Olga', { sAMAccountName: 'oop' });
    const ann = bed.directory.user('Ann');
    const change = (who: DirectoryEntry, target: DirectoryEntry, attrs: Record<string, string>) => {
      bed.directory.set(target, attrs);
      appendFileSync(log, line(bed.directory.sidOf(who), target.dn, Object.keys(attrs)));
    };
    return { bed, log, olga, ann, change };
  }

  it('names the actor on the event and in the mail, and tells the actor with loggedInUser', async () => {
    const { bed, olga, ann, change } = setup();
    await runCycle(bed.deps());

    change(olga, ann, { title: 'Engineer' });
    await runCycle(bed.deps());

    const [event] = await bed.store.events.since('');
    expect(event?.actor).toEqual({
      sid: bed.directory.sidOf(olga),
      account: 'oop',
      name: 'Olga',
      dn: olga.dn,
    });
    expect(await bed.mail()).toEqual([
      'olga@x.test: Changes to user Ann',
      'helpdesk@x.test: [adnotify] Changes to user Ann',
    ]);
    const [toOlga] = await bed.store.outbox.list();
    expect(toOlga?.text).toContain('You are told because you made this change.');
    expect(toOlga?.text).toContain('By: Olga (oop)');
    expect(JSON.stringify(await bed.store.outbox.list())).not.toContain('secret-ish');
  });

  it('two people changing one object in one cycle: one event each, both named', async () => {
    const { bed, olga, ann, change } = setup();
    const ben = bed.directory.user('Ben', { sAMAccountName: 'ben' });
    await runCycle(bed.deps());

    change(olga, ann, { title: 'Engineer' });
    change(ben, ann, { telephoneNumber: '+1 555' });
    await runCycle(bed.deps());

    expect((await bed.store.events.since('')).map((e) => `${e.type} ${e.actor?.name ?? '?'}`).sort()).toEqual(
      ['object.modified Ben', 'object.modified Olga'],
    );
    expect(
      (await bed.store.outbox.list()).find((m) => m.envelope.to.includes('helpdesk@x.test'))?.text,
    ).toContain('By: Ben (ben), Olga (oop)');
  });

  it('a change whose record never arrives goes out after waitSeconds with the actor unknown', async () => {
    const { bed, ann } = setup(1, 'loggedInUser: true, objectModified: true');
    await runCycle(bed.deps());
    bed.directory.set(ann, { title: 'Nobody said' });

    const started = performance.now();
    await runCycle(bed.deps());

    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect((await bed.store.events.since(''))[0]?.actor).toBeNull();
    expect(bed.logged()).toContain('no audit record named who made these changes in time');
    expect(await bed.mail()).toEqual([
      'ann@x.test: Changes to user Ann',
      'helpdesk@x.test: [adnotify] Changes to user Ann',
    ]);
    expect((await bed.store.outbox.list())[0]?.text).toContain(
      'By: unknown (no audit record named who made this change)',
    );
  });

  it('a record is used once: the next change of the same attribute is not given an old actor', async () => {
    const { bed, olga, ann, change } = setup(0);
    await runCycle(bed.deps());
    change(olga, ann, { title: 'One' });
    await runCycle(bed.deps());
    bed.directory.set(ann, { title: 'Two' }); // no record for this one

    await runCycle(bed.deps());

    expect((await bed.store.events.since('')).map((e) => e.actor?.name ?? null)).toEqual(['Olga', null]);
  });

  it('tells the creator of an object with loggedInUser, saying it was created', async () => {
    const { bed, log, olga } = setup(0);
    await runCycle(bed.deps());
    const cara = bed.directory.user('Cara');
    appendFileSync(
      log,
      sambaAuditLine({
        sid: bed.directory.sidOf(olga),
        dn: cara.dn,
        operation: 'Add',
        at: new Date('2026-12-01T08:00:30Z'),
      }),
    );

    await runCycle(bed.deps());

    expect(await bed.mail()).toEqual([
      'olga@x.test: Created user Cara',
      'helpdesk@x.test: [adnotify] Created user Cara',
    ]);
    expect((await bed.store.outbox.list())[0]?.text).toContain('The user was created.');
  });

  it('a record dated in the future is dropped when read: it cannot claim a later change', async () => {
    const { bed, log, olga, ann } = setup(0);
    await runCycle(bed.deps());
    appendFileSync(
      log,
      line(bed.directory.sidOf(olga), ann.dn, ['title']).replace(
        '2026-12-01T08:00:30',
        '2026-12-09T08:00:30',
      ),
    );
    bed.directory.set(ann, { description: 'not this one' });
    await runCycle(bed.deps());
    bed.now = new Date('2026-12-01T09:00:00Z');
    bed.directory.set(ann, { title: 'Nobody said' });

    await runCycle(bed.deps());

    expect((await bed.store.events.since('')).map((e) => e.actor?.name ?? null)).toEqual([null, null]);
    expect(bed.logged()).toContain('audit record skipped: it is dated in the future');
  });

  it('a record with a malformed SID is skipped with a warning and never fails or stalls the cycle', async () => {
    const { bed, log, ann } = setup(0);
    await runCycle(bed.deps());
    bed.directory.set(ann, { title: 'Hostile' });
    appendFileSync(log, line('S-1-5-21-1(', ann.dn, ['title']));
    appendFileSync(log, line('*', ann.dn, ['title']));

    // Each cycle commits (a throw here would fail the test): the bad lines are not read again.
    expect((await runCycle(bed.deps())).events).toBe(1);
    bed.directory.set(ann, { title: 'Next' });
    expect((await runCycle(bed.deps())).events).toBe(1);

    expect((await bed.store.events.since('')).map((e) => e.actor ?? null)).toEqual([null, null]);
    expect(bed.logged()).toContain('audit record skipped: its actor SID is malformed');
  });

  it('names the bind account as the service account it is, the DC itself as SYSTEM, and an unknown SID by its SID', async () => {
    const { bed } = setup();
    const svc = bed.directory.user('svc', {
      userPrincipalName: 'svc@x.test',
      sAMAccountName: 'svc-adnotify',
    });
    const resolver = new ActorResolver(bed.directory, 'svc@x.test', DOMAIN);
    expect(await resolver.resolve(bed.directory.sidOf(svc), null)).toEqual({
      sid: bed.directory.sidOf(svc),
      account: 'svc-adnotify',
      name: 'svc',
      dn: svc.dn,
      serviceAccount: true,
    });
    expect(await resolver.resolve('S-1-5-18', null)).toMatchObject({ account: 'NT AUTHORITY\\SYSTEM' });
    expect(await resolver.resolve('S-1-5-21-7-7-7-7', 'ACME\\gone')).toEqual({
      sid: 'S-1-5-21-7-7-7-7',
      account: 'ACME\\gone',
      name: null,
      dn: null,
    });
  });

  it('a change the poll sees made with the bind account is named as its service account, with a warning', async () => {
    const { bed, log, ann } = setup(0, 'objectModified: true');
    const svc = bed.directory.user('svc', { sAMAccountName: 'svc-adnotify', mail: '' });
    (bed.config.directory as { bindDN: string }).bindDN = svc.dn;
    await runCycle(bed.deps());
    bed.directory.set(ann, { title: 'Changed with our credentials' });
    appendFileSync(log, line(bed.directory.sidOf(svc), ann.dn, ['title']));

    await runCycle(bed.deps());

    expect((await bed.store.events.since(''))[0]?.actor).toMatchObject({ name: 'svc', serviceAccount: true });
    expect((await bed.store.outbox.list()).at(-1)?.text).toContain(
      "By: svc (svc-adnotify), adnotify's service account used by someone else",
    );
    expect(bed.logged()).toContain("a change was made with adnotify's bind account");
  });
});
