/** The lifecycle and password-expiry jobs on in-memory ports. */
import { describe, expect, it } from 'vitest';

import { checkHealth } from '../../src/daemon/alerts.js';
import { healthOf } from '../../src/daemon/health.js';
import { lifecycleJob } from '../../src/jobs/lifecycle/job.js';
import { passwordExpiryJob } from '../../src/jobs/passwordExpiry.js';
import { runCycle } from '../../src/poll/cycle.js';
import type { DirectoryEntry } from '../../src/core/types.js';
import { appBed, type AppBed } from '../support/appBed.js';
import { healthyFacts } from '../support/health.js';

/** A temporary membership of `member` in `group` from 1 to 10 December, as `temp add` makes it. */
async function temporaryMember(bed: AppBed, group: DirectoryEntry, member: DirectoryEntry): Promise<number> {
  return await bed.store.schedules.add({
    kind: 'member',
    targetGuid: group.guid,
    targetDn: group.dn,
    subjectGuid: member.guid,
    subjectDn: member.dn,
    startAt: '2026-12-01T08:00:00.000Z',
    endAt: '2026-12-10T08:00:00.000Z',
    createdAt: '2026-12-01T07:00:00.000Z',
    createdBy: 'admin',
  });
}

const FILETIME_EPOCH_MS = 11_644_473_600_000n;
const filetime = (at: Date) => ((BigInt(at.getTime()) + FILETIME_EPOCH_MS) * 10_000n).toString();

/** Ann's temporary membership of Team, its start applied. */
async function startedMembership() {
  const bed = appBed('lifecycle: { enabled: true }');
  const ann = bed.directory.user('Ann');
  const team = bed.directory.group('Team');
  await runCycle(bed.deps());
  const id = await temporaryMember(bed, team, ann);
  await lifecycleJob(bed.deps(), { dryRun: false });
  return { bed, ann, team, id };
}

describe('lifecycleJob on in-memory ports', () => {
  it('a temporary membership joins at its start and leaves at its end; the snapshot follows; each step is told', async () => {
    const bed = appBed('lifecycle: { enabled: true }');
    const owner = bed.directory.user('Olga');
    const ann = bed.directory.user('Ann');
    const team = bed.directory.group('Team', [], { managedBy: owner });
    await runCycle(bed.deps());
    const id = await temporaryMember(bed, team, ann);

    const started = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(started.map((s) => `${s.step} ${s.event}`)).toEqual(['start lifecycle.joined']);
    expect(bed.directory.modifies).toEqual([
      { dn: team.dn, operation: 'add', attribute: 'member', values: [ann.dn] },
    ]);
    expect(await bed.store.snapshot.members(team.guid)).toEqual([{ guid: ann.guid, dn: ann.dn }]);
    expect((await bed.store.schedules.get(id))?.state).toBe('active');
    expect(await bed.mail()).toEqual([
      'ann@x.test: You joined Team',
      'helpdesk@x.test: [adnotify] Ann joined Team',
    ]);
    // The poll that follows does not report the job's own change again.
    expect((await runCycle(bed.deps())).events).toBe(0);

    bed.now = new Date('2026-12-10T08:01:00Z');
    const ended = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(ended.map((s) => `${s.step} ${s.event}`)).toEqual(['end lifecycle.left']);
    expect(bed.directory.modifies.at(-1)).toEqual({
      dn: team.dn,
      operation: 'delete',
      attribute: 'member',
      values: [ann.dn],
    });
    expect((await bed.store.schedules.get(id))?.state).toBe('done');
  });

  it('each lifecycle step also goes to the chat channels, the webhooks and the SIEM, as its event', async () => {
    const bed = appBed(`lifecycle: { enabled: true }
channels:
  - { name: chat, type: slack, url: "https://hooks.slack.test/services/T0/B0/abcdefghijklmnop", events: ["lifecycle.*"] }
  - { name: hook, type: webhook, url: "https://hooks.test/adnotify", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", events: ["object.*"] }
siem: { syslog: "udp://127.0.0.1:514" }
`);
    const ann = bed.directory.user('Ann');
    const team = bed.directory.group('Team');
    await runCycle(bed.deps());
    await temporaryMember(bed, team, ann);
    await lifecycleJob(bed.deps(), { dryRun: false });

    const items = (await bed.store.outbox.list()).filter((m) => m.channel !== 'mail');
    // The webhook takes object events only: nothing. Slack gets one post naming the step.
    expect(items.map((m) => `${m.channel} ${m.kind}`)).toEqual([
      'chat slack',
      'siem.syslog lifecycle.joined',
    ]);
    expect(items[0]?.text).toContain('Ann joined Team');
    const event = JSON.parse(items[1]!.text) as { type: string; id: number; subject: { dn: string } };
    expect(event).toMatchObject({ type: 'lifecycle.joined', subject: { dn: ann.dn } });
    expect((await bed.store.events.since('1970-01-01')).map((e) => e.id)).toContain(event.id);
  });

  it('every step on a protected group sends the administrators a copy never held, naming the schedule, who made it and its end', async () => {
    const bed = appBed('lifecycle: { enabled: true }\ndelivery: { maxMessagesPerCycle: 1 }');
    const admins = bed.directory.group('Domain Admins', [], { adminCount: '1' });
    const ivan = bed.directory.user('Ivan', { mail: '' });
    await runCycle(bed.deps());
    await temporaryMember(bed, admins, ivan);

    await lifecycleJob(bed.deps(), { dryRun: false });
    bed.now = new Date('2026-12-10T08:01:00Z');
    await lifecycleJob(bed.deps(), { dryRun: false });

    expect(await bed.mail()).toEqual([
      'helpdesk@x.test: [adnotify] Protected group: Ivan joined Domain Admins',
      'helpdesk@x.test: [adnotify] Protected group: Ivan left Domain Admins',
    ]);
    const [joined] = await bed.store.outbox.list();
    expect(joined).toMatchObject({ protectedGroup: true, status: 'pending' });
    expect(joined?.text).toContain(
      'Schedule #1: from 2026-12-01 08:00 UTC until 2026-12-10 08:00 UTC, scheduled by admin',
    );
    expect(joined?.text).toContain('This is a protected object (adminCount=1');
    // The poll after the job stays silent: the job told of its own change.
    expect((await runCycle(bed.deps())).events).toBe(0);
  });

  it('a schedule cancelled while the job runs is not applied and stays cancelled', async () => {
    const bed = appBed('lifecycle: { enabled: true }');
    const ann = bed.directory.user('Ann');
    const ben = bed.directory.user('Ben');
    const team = bed.directory.group('Team');
    const club = bed.directory.group('Club');
    await runCycle(bed.deps());
    await temporaryMember(bed, team, ann);
    const later = await temporaryMember(bed, club, ben);
    // `temp cancel` in another process, while the job applies the first schedule.
    const modify = bed.directory.modify.bind(bed.directory);
    bed.directory.modify = async (...args) => {
      await modify(...args);
      await bed.store.schedules.setState(later, 'scheduled', 'cancelled', bed.now.toISOString());
    };

    const steps = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(steps.map((s) => `#${s.schedule.id} ${s.step}`)).toEqual(['#1 start']);
    expect((await bed.store.schedules.get(later))?.state).toBe('cancelled');
    expect(bed.directory.modifies.map((m) => m.dn)).toEqual([team.dn]);
    expect((await bed.mail()).filter((m) => m.includes('Club'))).toEqual([]);
  });

  it('a temporary removal whose member was already gone at its start does not put the member back at its end', async () => {
    const bed = appBed('lifecycle: { enabled: true }');
    const owner = bed.directory.user('Olga');
    const ann = bed.directory.user('Ann');
    const team = bed.directory.group('Team', [ann], { managedBy: owner });
    await runCycle(bed.deps());
    const id = await bed.store.schedules.add({
      kind: 'removal',
      targetGuid: team.guid,
      targetDn: team.dn,
      subjectGuid: ann.guid,
      subjectDn: ann.dn,
      startAt: '2026-12-01T08:00:00.000Z',
      endAt: '2026-12-10T08:00:00.000Z',
      createdAt: '2026-12-01T07:00:00.000Z',
      createdBy: 'admin',
    });
    // An administrator removes Ann for good before the temporary removal starts.
    bed.directory.removeMember(team, ann);
    await runCycle(bed.deps());

    await lifecycleJob(bed.deps(), { dryRun: false });
    expect((await bed.store.schedules.get(id))?.startChanged).toBe(false);
    bed.now = new Date('2026-12-10T08:01:00Z');
    const ended = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(ended.map((s) => `${s.step} ${s.event}`)).toEqual(['end lifecycle.not-rejoined']);
    expect(bed.directory.modifies).toEqual([]);
    expect(team.members).toEqual([]);
    expect(await bed.store.schedules.get(id)).toMatchObject({ state: 'done' });
    expect((await bed.store.schedules.get(id))?.lastError).toContain(
      'not in the group when the removal started',
    );
  });

  it('a temporary member the bind account can no longer read is still removed at the end, by GUID', async () => {
    const { bed, ann, team, id } = await startedMembership();
    bed.directory.unreadable.add(ann.guid); // a deny-read ACE on the member

    bed.now = new Date('2026-12-10T08:01:00Z');
    const ended = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(ended.map((s) => `${s.step} ${s.event} ${s.error ?? ''}`)).toEqual(['end lifecycle.left ']);
    expect(team.members).toEqual([]);
    expect(bed.directory.modifies.at(-1)).toEqual({
      dn: team.dn,
      operation: 'delete',
      attribute: 'member',
      values: [`<GUID=${ann.guid}>`],
    });
    expect((await bed.store.schedules.get(id))?.state).toBe('done');
  });

  it('a group the bind account can no longer read is retried, not given up: only a tombstone means gone', async () => {
    const { bed, team, id } = await startedMembership();
    bed.directory.unreadable.add(team.guid);

    bed.now = new Date('2026-12-10T08:01:00Z');
    const ended = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(ended).toMatchObject([{ step: 'end', final: false }]);
    expect(await bed.store.schedules.get(id)).toMatchObject({ state: 'failed', resumeFrom: 'active' });
    expect((await bed.store.schedules.get(id))?.lastError).toContain('cannot be read');
    bed.directory.unreadable.delete(team.guid);
    await lifecycleJob(bed.deps(), { dryRun: false });
    expect(team.members).toEqual([]);
    expect((await bed.store.schedules.get(id))?.state).toBe('done');
  });

  it('a step whose group is gone fails for good and says why; the run goes on', async () => {
    const bed = appBed('lifecycle: { enabled: true }');
    const ann = bed.directory.user('Ann');
    const team = bed.directory.group('Team');
    const id = await temporaryMember(bed, team, ann);
    bed.directory.delete(team);

    const steps = await lifecycleJob(bed.deps(), { dryRun: false });

    expect(steps).toMatchObject([{ step: 'start', final: true }]);
    expect(await bed.store.schedules.get(id)).toMatchObject({ state: 'failed', resumeFrom: null });
    expect((await bed.store.schedules.get(id))?.lastError).toContain('no longer exists');
    expect(bed.directory.modifies).toEqual([]);
  });

  it('a schedule failed for good raises one health alert and makes /healthz unhealthy until cancelled', async () => {
    const bed = appBed('lifecycle: { enabled: true }');
    const ann = bed.directory.user('Ann');
    const team = bed.directory.group('Team');
    const id = await temporaryMember(bed, team, ann);
    bed.directory.delete(team);
    await lifecycleJob(bed.deps(), { dryRun: false });
    const health = async () =>
      healthOf(
        healthyFacts(bed.now, {
          counts: {
            ...(await bed.store.outbox.counts()),
            stuckSchedules: (await bed.store.schedules.counts()).failed,
            failedSchedules: (await bed.store.schedules.counts())['failed-final'],
          },
        }),
      );
    const input = { now: bed.now, lastSuccess: bed.now, startedAt: bed.now, lastError: null };

    await checkHealth(bed.deps(), input);
    await checkHealth(bed.deps(), input);

    expect(await bed.mail()).toEqual(['helpdesk@x.test: [adnotify] 1 lifecycle schedule failed for good']);
    expect(await health()).toMatchObject({ healthy: false });
    expect((await health()).reasons.join()).toContain('1 lifecycle schedules failed for good');

    await bed.store.schedules.setState(id, 'failed', 'cancelled', bed.now.toISOString()); // temp cancel
    await checkHealth(bed.deps(), input);
    expect(await health()).toMatchObject({ healthy: true });
    expect((await bed.mail()).at(-1)).toBe(
      'helpdesk@x.test: [adnotify] no lifecycle schedule is left failed',
    );
  });
});

describe('passwordExpiryJob on in-memory ports', () => {
  it('reminds a user once per threshold, skips the disabled and "never expires", and records what it sent', async () => {
    const bed = appBed(
      'passwordExpiry: { enabled: true, daysBefore: [7, 3], portalUrl: "https://pw.x.test" }',
    );
    const inThreeDays = filetime(new Date('2026-12-04T07:00:00Z'));
    bed.directory.user('Ann', { 'msDS-UserPasswordExpiryTimeComputed': inThreeDays, pwdLastSet: '1' });
    bed.directory.user('Dis', {
      'msDS-UserPasswordExpiryTimeComputed': inThreeDays,
      userAccountControl: '514',
    });
    bed.directory.user('Never', {
      'msDS-UserPasswordExpiryTimeComputed': inThreeDays,
      userAccountControl: '66048',
    });

    const first = await passwordExpiryJob(bed.deps(), { dryRun: false });
    const again = await passwordExpiryJob(bed.deps(), { dryRun: false });

    expect(first.map((r) => `${r.mail} ${r.threshold} ${r.daysLeft}`)).toEqual(['ann@x.test 3 2']);
    expect(again).toEqual([]);
    expect(await bed.mail()).toEqual(['ann@x.test: Your password expires in 2 days']);
    expect((await bed.store.outbox.list())[0]?.text).toContain('https://pw.x.test');
  });
});
