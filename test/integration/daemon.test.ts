/**
 * `adnotify run` as a child process against Samba and an SMTP capture: it picks up changes
 * within an interval, survives a bad config on SIGHUP, stops cleanly on SIGTERM in the middle
 * of a cycle, rides out a domain controller that goes away, and reports itself over HTTP.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { sambaOrNull, uniqueName } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { freePort, startDaemon, type Running } from '../support/daemon.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { restartSamba, startSamba, type StartedSamba } from '../support/samba.js';
import { DirectoryAdmin } from '../support/seed.js';
import { SmtpCapture } from '../support/smtpCapture.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

const polls = (r: Running) => r.lines().filter((l) => l['message'] === 'poll done');

describe.skipIf(!samba)('adnotify run (child process, Samba AD DC, SMTP capture)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);
  const running: Running[] = [];

  afterEach(() => {
    for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  });

  const person = (ou: string, name: string) => bed.admin.person(ou, name);

  it('picks up a change within one interval, keeps the old config on a bad SIGHUP, serves /healthz and /metrics', async () => {
    let ann = '';
    const port = await freePort();
    const watch = await Watch.start(
      bed.admin,
      samba,
      'daemon',
      async (ou) => {
        ann = await person(ou, 'Ann');
      },
      {
        smtpPort: bed.smtp.port,
        extra: `notify: { objectModified: true }\npoll: { schedule: "1s" }\nhttp: { listen: "127.0.0.1:${port}" }`,
      },
    );
    const daemon = startDaemon(watch.config, watch.env);
    running.push(daemon);
    await daemon.waitFor((l) => l['message'] === 'adnotify started', 'start');
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');

    await bed.admin.modify(ann, 'replace', 'title', ['Director']);
    const changedAt = Date.now();
    const first = await daemon.waitFor(
      (l) => l['message'] === 'poll done' && l['events'] === 1,
      'the change',
    );
    await daemon.waitFor((l) => l['message'] === 'message sent', 'the mail');
    expect(Date.now() - changedAt).toBeLessThan(5_000);
    expect(bed.smtp.messages.filter((m) => m.parsed.subject === 'Changes to user Ann')).toHaveLength(1);
    expect(polls(daemon).at(-1)).toMatchObject({ kind: 'incremental' });

    // A broken config on SIGHUP: logged, the old one kept, polling goes on.
    const good = readFileSync(watch.config, 'utf8');
    writeFileSync(watch.config, good.replace('poll: { schedule: "1s" }', 'poll: { schedule: "never" }'));
    daemon.child.kill('SIGHUP');
    await daemon.waitFor(
      (l) => l['message'] === 'new config is invalid; keeping the old one',
      'the reload refusal',
    );
    let from = daemon.mark();
    await bed.admin.modify(ann, 'replace', 'title', ['Managing Director']);
    const second = await daemon.waitFor(
      (l) => l['message'] === 'poll done' && l['events'] === 1 && Number(l['cycle']) > Number(first['cycle']),
      'a change after the bad reload',
      10_000,
      from,
    );

    // A good config on SIGHUP is applied: administrators now get copies.
    writeFileSync(
      watch.config,
      good.replace('requireTls: false', 'requireTls: false\n  to: [helpdesk@example.test]'),
    );
    daemon.child.kill('SIGHUP');
    await daemon.waitFor((l) => l['message'] === 'config reloaded', 'the reload');
    from = daemon.mark();
    await bed.admin.modify(ann, 'replace', 'title', ['CEO']);
    await daemon.waitFor(
      (l) =>
        l['message'] === 'poll done' &&
        l['events'] === 1 &&
        l['queued'] === 2 &&
        Number(l['cycle']) > Number(second['cycle']),
      'a change after the reload',
      10_000,
      from,
    );

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ healthy: true, failedMessages: 0 });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^adnotify_events_total\{type="object\.modified"\} 3$/m);
    expect(metrics).toMatch(/^adnotify_cycles_total\{kind="incremental",outcome="ok"\} \d+$/m);
    expect(metrics).toMatch(/^adnotify_outbox_messages\{status="sent"\} \d+$/m);
    expect(metrics).toMatch(/^adnotify_snapshot_objects 1$/m);
    expect(metrics).toMatch(/^adnotify_last_success_timestamp_seconds \d+/m);

    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM during a cycle finishes that cycle, then exits 0 with nothing lost', async () => {
    const proxy = await LdapProxy.start(samba);
    try {
      const users: string[] = [];
      const watch = await Watch.start(
        bed.admin,
        samba,
        'sigterm',
        async (ou) => {
          for (let i = 0; i < 4; i++) users.push(await person(ou, `Term${i}`));
        },
        {
          urls: [proxy.url],
          smtpPort: bed.smtp.port,
          directoryExtra: '  pageSize: 1',
          // The proxy counts the searches of every connection: no notification connection
          // (its own searches would be counted as the cycle's, and held instead of them).
          extra: 'poll: { schedule: "1s", trigger: schedule }',
        },
      );
      const daemon = startDaemon(watch.config, watch.env);
      running.push(daemon);
      await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
      for (const [i, dn] of users.entries()) await bed.admin.modify(dn, 'replace', 'title', [`t${i}`]);
      proxy.reset();
      proxy.holdAfterSearches(4); // rootDSE, invocationId, two pages of the change search
      for (let i = 0; i < 200 && !proxy.holding; i++) await new Promise((r) => setTimeout(r, 50));
      expect(proxy.holding).toBe(true);
      daemon.child.kill('SIGTERM');
      await daemon.waitFor((l) => l['message'] === 'stopping', 'the stop');
      await new Promise((r) => setTimeout(r, 500));
      expect(daemon.child.exitCode).toBeNull(); // still finishing the cycle
      proxy.release();
      expect(await daemon.exited).toEqual({ code: 0, signal: null });
      expect(polls(daemon).at(-1)).toMatchObject({ events: 4 });
      // Committed exactly once: the next cycle finds nothing new.
      const { events } = await watch.cycle();
      expect(events.filter((e) => e.type === 'object.modified')).toHaveLength(4);
      expect((await watch.cycle()).events).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('runs the lifecycle and password-expiry jobs on their cron schedules', async () => {
    let kay = '';
    let club = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'daemonjobs',
      async (ou) => {
        kay = await person(ou, 'Kay');
        club = await bed.admin.group(ou, uniqueName('club').slice(0, 20), { displayName: 'Club' });
      },
      {
        smtpPort: bed.smtp.port,
        extra:
          'poll: { schedule: "1s" }\nlifecycle: { enabled: true, schedule: "*/2 * * * * *" }\n' +
          'passwordExpiry: { enabled: true, schedule: "*/2 * * * * *", portalUrl: "https://pw.example.test" }',
      },
    );
    const add = await watch.run('temp', 'add', 'member', '--group', club, '--member', kay, '--until', '1d');
    expect(add.code, add.stderr).toBe(0);
    const daemon = startDaemon(watch.config, watch.env);
    running.push(daemon);
    await daemon.waitFor(
      (l) => l['message'] === 'lifecycle done' && Number(l['steps']) >= 1,
      'the lifecycle job',
    );
    await daemon.waitFor((l) => l['message'] === 'password-expiry done', 'the password-expiry job');
    const { searchEntries } = await bed.admin.client.search(club, { scope: 'base', attributes: ['member'] });
    expect(String(searchEntries[0]?.['member'])).toBe(kay);
    await daemon.waitFor(
      (l) => l['message'] === 'poll done' && l['objects'] === 1,
      'the poll that sees the group',
    );
    expect(polls(daemon).every((p) => p['events'] === 0)).toBe(true);
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });

  it('reports failed messages: /healthz 503, /metrics, one alert, and one notice once retried', async () => {
    let refuse = true;
    const picky = await SmtpCapture.start({ reject: (address) => refuse && address.startsWith('lou') });
    try {
      let lou = '';
      const port = await freePort();
      const watch = await Watch.start(
        bed.admin,
        samba,
        'daemonfail',
        async (ou) => {
          lou = await person(ou, 'Lou');
        },
        {
          smtpPort: picky.port,
          smtpExtra: '  to: [ops@example.test]',
          extra: `notify: { objectModified: true }\npoll: { schedule: "1s" }\nhttp: { listen: "127.0.0.1:${port}" }`,
        },
      );
      const daemon = startDaemon(watch.config, watch.env);
      running.push(daemon);
      await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
      await bed.admin.modify(lou, 'replace', 'title', ['Refused']);
      await daemon.waitFor((l) => l['message'] === 'message failed for good', 'the failure');
      await daemon.waitFor((l) => l['message'] === 'health alert', 'the alert');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { reasons: string[] }).reasons).toEqual([
        '1 messages failed (adnotify outbox list --status failed)',
      ]);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^adnotify_outbox_messages\{status="failed"\} 1$/m);
      expect(metrics).toMatch(/^adnotify_mail_send_failures_total 1$/m);

      refuse = false;
      const retry = await watch.run('outbox', 'retry', '--all');
      expect(retry.code, retry.stderr).toBe(0);
      await daemon.waitFor(
        (l) => l['message'] === 'health alert' && String(l['subject']).includes('no failed'),
        'the recovery',
      );
      for (let i = 0; i < 50 && (await fetch(`http://127.0.0.1:${port}/healthz`)).status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const ops = () =>
        picky.messages.filter((m) => m.to.includes('ops@example.test')).map((m) => m.parsed.subject);
      // The notice is queued by the health check after a poll and sent with the next poll.
      for (let i = 0; i < 50 && !ops().includes('[adnotify] no failed messages left'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const subjects = ops();
      expect(subjects).toEqual(
        expect.arrayContaining([
          '[adnotify] 1 message could not be delivered',
          '[adnotify] no failed messages left',
        ]),
      );
      expect(subjects.filter((s) => s?.startsWith('[adnotify] 1 message could not'))).toHaveLength(1);
      daemon.child.kill('SIGTERM');
      expect((await daemon.exited).code).toBe(0);
    } finally {
      await picky.stop();
    }
  });

  it('exits at once with 77 on bad LDAP credentials and 78 on a bad config', async () => {
    const watch = await Watch.start(bed.admin, samba, 'badstart', () => Promise.resolve(), {
      smtpPort: bed.smtp.port,
    });
    watch.env = { ...watch.env, TEST_BIND_PASSWORD: 'not-the-Passw0rd' };
    const bad = startDaemon(watch.config, watch.env);
    running.push(bad);
    expect((await bad.exited).code).toBe(77);
    writeFileSync(watch.config, readFileSync(watch.config, 'utf8').replace('version: 1', 'version: 2'));
    const invalid = startDaemon(watch.config, watch.env);
    running.push(invalid);
    expect((await invalid.exited).code).toBe(78);
  });
});

describe.skipIf(!samba)('adnotify run while its own domain controller stops and starts again', () => {
  if (!samba) return;
  let dc: StartedSamba;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'adnotify-dc2-'));
    dc = await startSamba(dir);
  }, 120_000);
  afterAll(async () => {
    await dc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens the change notifications again after the DC restarts, and the next change is told without the schedule', async () => {
    const admin = await DirectoryAdmin.connect(dc.info);
    const smtp = await SmtpCapture.start();
    let cid = '';
    const watch = await Watch.start(
      admin,
      dc.info,
      'renotify',
      async (ou) => {
        cid = await admin.person(ou, 'Cid');
      },
      { smtpPort: smtp.port, extra: 'notify: { objectModified: true }\npoll: { schedule: "1h" }' },
    );
    await admin.close();
    const daemon = startDaemon(watch.config, watch.env);
    try {
      await daemon.waitFor((l) => l['message'] === 'poll trigger: notification', 'the notifications');
      const stopping = daemon.mark();
      await dc.stop();
      const lost = await daemon.waitFor(
        (l) =>
          l['message'] === 'change notifications lost; poll.schedule alone drives cycles until they are back',
        'the notifications lost',
        30_000,
        stopping,
      );
      // Reopened is any open after the loss: the back-off may reconnect while restartSamba is
      // still waiting for the DC to answer it, before it returns.
      const afterLoss = daemon.lines().indexOf(lost) + 1;
      dc = await restartSamba(dc.info);
      await daemon.waitFor(
        (l) => l['message'] === 'poll trigger: notification',
        'reopened',
        90_000,
        afterLoss,
      );
      const again = await DirectoryAdmin.connect(dc.info);
      await again.modify(cid, 'replace', 'title', ['After the restart']);
      await again.close();
      await expect
        .poll(() => smtp.messages.filter((m) => (m.parsed.text ?? '').includes('After the restart')).length, {
          timeout: 30_000,
        })
        .toBe(1);
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toEqual({ code: 0, signal: null });
    } finally {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await smtp.stop();
    }
  }, 180_000);

  it('loses no change made just before the outage', async () => {
    const admin = await DirectoryAdmin.connect(dc.info);
    const smtp = await SmtpCapture.start();
    let bea = '';
    const watch = await Watch.start(
      admin,
      dc.info,
      'outage',
      async (ou) => {
        bea = await admin.user(ou, 'bea-outage', { displayName: 'Bea' });
      },
      {
        smtpPort: smtp.port,
        smtpExtra: '  to: [ops@example.test]',
        extra: 'poll: { schedule: "2s" }\nalerts: { noSuccessFor: "3s" }',
      },
    );
    const daemon = startDaemon(watch.config, watch.env);
    try {
      await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
      await admin.modify(bea, 'replace', 'title', ['Before the outage']);
      await admin.close();
      await dc.stop();
      await daemon.waitFor(
        (l) => l['message'] === 'poll failed; retrying' && l['failures'] === 2,
        'two failed polls',
        30_000,
      );
      dc = await restartSamba(dc.info);
      await daemon.waitFor(
        (l) => l['message'] === 'poll done' && l['events'] === 1,
        'the change after the outage',
        60_000,
      );
      const failures = daemon.lines().filter((l) => l['message'] === 'poll failed; retrying');
      expect(failures.length).toBeGreaterThanOrEqual(2);
      expect(String(failures[0]?.['err'])).toMatch(/cannot reach the directory|unreachable|ECONNREFUSED/i);
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toEqual({ code: 0, signal: null });
      const events = await watch.newEvents();
      expect(events.filter((e) => e.type === 'object.modified')).toHaveLength(1);
      // One alert while no poll succeeded for alerts.noSuccessFor, one notice after.
      expect(smtp.messages.map((m) => `${m.to.join()}: ${m.parsed.subject ?? ''}`)).toEqual([
        'ops@example.test: [adnotify] no successful poll for 3s',
        'ops@example.test: [adnotify] polls succeed again',
      ]);
    } finally {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await smtp.stop();
    }
  }, 120_000);
});
