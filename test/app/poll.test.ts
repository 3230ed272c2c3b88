/**
 * The poll cycle on in-memory ports: one test per kind of cycle (baseline, incremental,
 * resync), and the rule that a cycle that fails part-way commits nothing.
 */
import { describe, expect, it } from 'vitest';

import { healthOf } from '../../src/daemon/health.js';
import { exitCodeFor, ReplicationLagError } from '../../src/errors.js';
import { runCycle } from '../../src/poll/cycle.js';
import { healthyFacts } from '../support/health.js';
import { appBed } from '../support/appBed.js';

describe('runCycle on in-memory ports', () => {
  it('an empty state takes the baseline: every watched object and membership, no events, no mail', async () => {
    const bed = appBed();
    const ann = bed.directory.user('Ann');
    bed.directory.group('Team', [ann]);

    const summary = await runCycle(bed.deps());

    expect(summary).toMatchObject({ kind: 'baseline', objects: 2, groups: 1, memberships: 1, events: 0 });
    expect(await bed.store.snapshot.counts()).toEqual({
      objects: 2,
      groups: 1,
      containers: 1,
      memberships: 1,
    });
    expect((await bed.store.cycles.directoryState())?.usnCursor).toBe(summary.cursor);
    expect(await bed.mail()).toEqual([]);
  });

  it('an incremental cycle reads what changed since the cursor, records the events and queues the mail', async () => {
    const bed = appBed('notify: { objectModified: true }');
    const bob = bed.directory.user('Bob');
    const ann = bed.directory.user('Ann', { manager: bob });
    const team = bed.directory.group('Team', [], { managedBy: bob });
    await runCycle(bed.deps());

    bed.directory.set(ann, { title: 'Engineer' });
    bed.directory.addMember(team, ann);
    const summary = await runCycle(bed.deps());

    expect(summary).toMatchObject({ kind: 'incremental', idle: false, objects: 2, events: 2 });
    expect((await bed.store.events.since('')).map((e) => `${e.type} ${e.object.dn}`)).toEqual([
      `object.modified ${ann.dn}`,
      `group.member.added ${team.dn}`,
    ]);
    expect(await bed.mail()).toEqual([
      'ann@x.test: Changes to user Ann',
      'bob@x.test: Changes to user Ann',
      'helpdesk@x.test: [adnotify] Changes to user Ann',
      // With objectModified, Ann is also a member of the changed group: one message, not two.
      'ann@x.test: Changes to group Team',
      'bob@x.test: Changes to group Team',
      'helpdesk@x.test: [adnotify] Changes to group Team',
    ]);
    expect(await bed.store.snapshot.members(team.guid)).toEqual([{ guid: ann.guid, dn: ann.dn }]);
    // Attributes are named as the directory's display specifiers name them to people.
    expect((await bed.store.outbox.list())[0]?.text).toContain('Job Title: (none) -> Engineer');
  });

  it('an incremental cycle with nothing in scope changed writes nothing and keeps its cursor', async () => {
    const bed = appBed();
    bed.directory.user('Ann');
    const baseline = await runCycle(bed.deps());
    bed.directory.container('Elsewhere'); // outside the base: bumps the USN only

    const summary = await runCycle(bed.deps());

    expect(summary).toMatchObject({ kind: 'incremental', idle: true, events: 0, cursor: baseline.cursor });
    expect(await bed.store.events.since('')).toEqual([]);
  });

  it('a new invocationId (a restored DC) resyncs: everything read and diffed, real differences once', async () => {
    const bed = appBed();
    const ann = bed.directory.user('Ann');
    const gone = bed.directory.user('Gone');
    await runCycle(bed.deps());

    bed.directory.invocationId = '22222222-2222-4222-8222-222222222222';
    bed.directory.set(ann, { title: 'Restored' });
    bed.directory.delete(gone);
    const summary = await runCycle(bed.deps());

    expect(summary.kind).toBe('resync');
    expect((await bed.store.events.since('')).map((e) => `${e.type} ${e.object.guid}`)).toEqual([
      `object.modified ${ann.guid}`,
      `object.deleted ${gone.guid}`,
    ]);
    expect((await bed.store.cycles.directoryState())?.invocationId).toBe(bed.directory.invocationId);
  });

  it('a move to another DC whose USNs are below the cursor is named as a DC change, not a USN rollback', async () => {
    const bed = appBed();
    const ann = bed.directory.user('Ann');
    await runCycle(bed.deps());
    bed.directory.upToDate.set(bed.directory.invocationId, 1n << 40n); // DC2 holds all DC1 had
    bed.directory.becomeOtherDc('DC2', 10n);
    bed.directory.set(ann, { title: 'Moved on' });

    const summary = await runCycle(bed.deps());

    expect(summary.kind).toBe('resync');
    expect(bed.logged()).toContain('domain controller or its invocationId changed');
    expect(bed.logged()).not.toContain('USN rollback');
  });

  it('a failed cycle records its error with the configured secrets redacted (status reads it later)', async () => {
    const bed = appBed();
    await runCycle(bed.deps());
    (bed.config.directory as { bindPassword: string }).bindPassword = 'Hunter2-bind';
    bed.directory.failNextSearch = new Error('invalid credentials for svc: password Hunter2-bind refused');
    bed.directory.set(bed.directory.user('Ann'), { title: 'x' });

    await expect(runCycle(bed.deps())).rejects.toThrow('Hunter2-bind');

    expect((await bed.store.cycles.lastRun())?.error).toBe(
      'invalid credentials for svc: password *** refused',
    );
  });

  it('an object that stops matching directory.filter leaves the scope in an incremental cycle, and enters again', async () => {
    const bed = appBed('', 'filter: "(&(objectClass=user)(department=IT))"');
    const ann = bed.directory.user('Ann', { department: 'IT' });
    await runCycle(bed.deps());

    bed.directory.set(ann, { department: 'Sales' });
    const left = await runCycle(bed.deps());
    bed.directory.set(ann, { department: 'IT' });
    const back = await runCycle(bed.deps());

    expect([left.kind, back.kind]).toEqual(['incremental', 'incremental']);
    expect(
      (await bed.store.events.since('')).map(
        (e) => e.type + (e.type === 'object.moved' && e.leftScope ? ' left' : ''),
      ),
    ).toEqual(['object.moved left', 'object.created']);
    expect((await bed.store.events.since(''))[1]).toMatchObject({ enteredScope: true });
  });

  it('a failover to a DC that has not caught up waits (exit 75, nothing committed) instead of telling a revert', async () => {
    const bed = appBed('notify: { objectModified: true }', 'failoverWaitSeconds: 120');
    const ann = bed.directory.user('Ann');
    await runCycle(bed.deps());
    const dc1 = bed.directory.invocationId;
    bed.directory.set(ann, { title: 'Told on DC1' });
    await runCycle(bed.deps());
    const reached = (await bed.store.cycles.directoryState())!.usnCursor;
    // DC2 has replicated DC1 only up to before the title change: it still shows the old title.
    bed.directory.becomeOtherDc('DC2', 10n);
    bed.directory.set(ann, { title: null });
    bed.directory.upToDate.set(dc1, reached - 1n);
    const told = (await bed.store.events.since('')).length;

    const lag = await runCycle(bed.deps()).then(
      () => null,
      (err: unknown) => err,
    );
    expect(lag).toBeInstanceOf(ReplicationLagError);
    expect(String(lag)).toMatch(/has not caught up with .*DC1.*waiting/);
    expect(exitCodeFor(lag)).toBe(75);
    // What the daemon's /healthz says meanwhile (daemon.ts keeps the message while it waits).
    const health = healthOf(healthyFacts(bed.now, { lagging: (lag as Error).message }));
    expect(health.healthy).toBe(false);
    expect(health.reasons.join()).toContain('DC2 has not caught up with DC1 yet');
    expect(await bed.store.events.since('')).toHaveLength(told);
    expect((await bed.store.cycles.directoryState())?.invocationId).toBe(dc1);

    bed.directory.set(ann, { title: 'Told on DC1' }); // replication caught up
    bed.directory.upToDate.set(dc1, reached);
    const resync = await runCycle(bed.deps());

    expect(resync.kind).toBe('resync');
    expect(await bed.store.events.since('')).toHaveLength(told); // nothing told twice, no phantom revert
    expect(bed.logged()).toContain('has not caught up');
  });

  it('past directory.failoverWaitSeconds a lagging DC is used all the same, saying reverts may be replication lag', async () => {
    const bed = appBed('', 'failoverWaitSeconds: 60');
    bed.directory.user('Ann');
    await runCycle(bed.deps());
    const dc1 = bed.directory.invocationId;
    bed.directory.becomeOtherDc('DC2', 10n);
    bed.directory.upToDate.set(dc1, 1n);

    await expect(runCycle(bed.deps())).rejects.toThrow(/waiting/);
    bed.now = new Date(bed.now.getTime() + 61_000);
    const resync = await runCycle(bed.deps());

    expect(resync.kind).toBe('resync');
    expect(bed.logged()).toContain('reverts it reports may be replication lag');
  });

  it('a cycle that fails part-way commits nothing: the next one reports the same change', async () => {
    const bed = appBed('notify: { objectModified: true }');
    const ann = bed.directory.user('Ann');
    const first = await runCycle(bed.deps());
    bed.directory.set(ann, { title: 'Engineer' });
    bed.directory.failNextSearch = new Error('the DC went away');

    await expect(runCycle(bed.deps())).rejects.toThrow('the DC went away');
    expect((await bed.store.cycles.directoryState())?.usnCursor).toBe(first.cursor);
    expect(await bed.store.cycles.lastRun()).toMatchObject({ outcome: 'failed', error: 'the DC went away' });
    expect(await bed.store.events.since('')).toEqual([]);

    const retry = await runCycle(bed.deps());
    expect(retry.events).toBe(1);
    expect(await bed.mail()).toEqual([
      'ann@x.test: Changes to user Ann',
      'helpdesk@x.test: [adnotify] Changes to user Ann',
    ]);
  });
});
