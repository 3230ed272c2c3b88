/**
 * poll.trigger notification against Samba: a change is told within seconds though the
 * schedule is an hour; a DC that refuses the change-notification control (the proxy answers
 * 53 for it) leaves the schedule alone, with one warning and no crash loop. The DC restarted
 * under a running daemon is in daemon.test.ts's own-DC block.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { freePort, startDaemon, type Running } from '../support/daemon.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('change notifications as a trigger (Samba AD DC)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);
  const running: Running[] = [];
  const proxies: LdapProxy[] = [];

  afterEach(async () => {
    for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    for (const p of proxies.splice(0)) await p.stop();
  });

  it('tells a change within seconds though poll.schedule is an hour; /healthz and /metrics say so', async () => {
    let ann = '';
    const port = await freePort();
    const watch = await Watch.start(
      bed.admin,
      samba,
      'notify',
      async (ou) => {
        ann = await bed.admin.person(ou, 'Ann');
      },
      {
        smtpPort: bed.smtp.port,
        extra: `notify: { objectModified: true }\npoll: { schedule: "1h" }\nhttp: { listen: "127.0.0.1:${port}" }`,
      },
    );
    const daemon = startDaemon(watch.config, watch.env);
    running.push(daemon);
    const chosen = await daemon.waitFor((l) => l['message'] === 'poll trigger: notification', 'the trigger');
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');

    const from = daemon.mark();
    await bed.admin.modify(ann, 'replace', 'title', ['Told at once']);
    const changedAt = Date.now();
    await daemon.waitFor(
      (l) => l['message'] === 'poll done' && l['events'] === 1,
      'the change, without the schedule',
      10_000,
      from,
    );
    const latency = Date.now() - changedAt;
    expect(latency).toBeLessThan(8_000);
    await expect
      .poll(() => bed.smtp.messages.filter((m) => (m.parsed.text ?? '').includes('Told at once')).length)
      .toBe(1);
    // Samba 4.17 accepts a subtree notification search on the watched OU itself.
    expect(chosen['base']).toBe(watch.ou);
    // The DC is named from its rootDSE, with what Samba's other LDAP workers mean for latency.
    expect(chosen['dc']).toMatch(/^Samba Team \(https:\/\/www\.samba\.org\) 4\./);
    expect(chosen['note']).toMatch(/up to 5 s later.*prefork children:ldap = 1/);

    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
      healthy: boolean;
      trigger: { trigger: string; connected: boolean };
    };
    expect(health).toMatchObject({ healthy: true, trigger: { trigger: 'notification', connected: true } });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^adnotify_notification_connected 1$/m);
    expect(metrics).toMatch(/^adnotify_triggered_cycles_total [1-9]\d*$/m);
  });

  it('a DC that refuses the control: the schedule alone, one warning, no crash loop', async () => {
    const proxy = await LdapProxy.start(samba);
    proxies.push(proxy);
    proxy.refuseNotifications();
    let bob = '';
    const watch = await Watch.start(
      bed.admin,
      samba,
      'refuse',
      async (ou) => {
        bob = await bed.admin.person(ou, 'Bob');
      },
      {
        urls: [proxy.url],
        smtpPort: bed.smtp.port,
        extra: 'notify: { objectModified: true }\npoll: { schedule: "2s", trigger: notification }',
      },
    );
    const daemon = startDaemon(watch.config, watch.env);
    running.push(daemon);
    const fallback = await daemon.waitFor((l) => l['message'] === 'poll trigger: schedule', 'the fallback');
    expect(fallback).toMatchObject({ level: 'warn' });
    expect(String(fallback['reason'])).toMatch(/refuses a change-notification search/);
    await bed.admin.modify(bob, 'replace', 'title', ['Told on schedule']);
    await daemon.waitFor((l) => l['message'] === 'poll done' && l['events'] === 1, 'the change on schedule');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(daemon.lines().filter((l) => l['message'] === 'poll trigger: schedule')).toHaveLength(1);
    expect(daemon.child.exitCode).toBeNull();
  });
});
