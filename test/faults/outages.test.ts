/**
 * Outages, with the daemon running: the SMTP server down for several cycles, answering 4xx
 * and 5xx; the domain controller stopped in the middle of a cycle, and one too slow to answer.
 * Cycles come from the 1 s schedule alone (poll.trigger schedule): the scenarios count cycles,
 * which change notifications would split differently.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import { freePort, type Running } from '../support/daemon.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { restartSamba } from '../support/samba.js';
import { DirectoryAdmin } from '../support/seed.js';
import { SmtpCapture } from '../support/smtpCapture.js';
import { Bed, expectNoSecrets } from './harness.js';
import { counts, record, tally } from './summary.js';

const samba = sambaOrNull();
const PASSWORD = 'Str0ng!Passw0rd';

describe.skipIf(!samba)('fault: outages', () => {
  if (!samba) return;
  let admin: DirectoryAdmin;
  const daemons: Running[] = [];

  beforeAll(async () => {
    admin = await DirectoryAdmin.connect(samba);
  });
  afterAll(async () => {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await admin.close();
    expectNoSecrets([samba.password]);
  });

  /** `count` enabled, mail-enabled users in `ou`, named `${prefix}${i}`. */
  const people = async (ou: string, prefix: string, count: number) => {
    const dns: string[] = [];
    for (let i = 0; i < count; i++) {
      dns.push(
        await admin.user(ou, `${prefix}${i}`, { mail: `${prefix}${i}@example.test` }, { password: PASSWORD }),
      );
    }
    return dns;
  };
  const texts = (smtp: SmtpCapture) => smtp.messages.map((m) => ({ to: m.to, text: m.parsed.text ?? '' }));
  const until = async (what: string, done: () => boolean | Promise<boolean>, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  };

  it('SMTP down for several cycles: /healthz says so; everything arrives once it is back, in order per recipient, no attempt used up', async () => {
    let smtp = await SmtpCapture.start();
    const port = smtp.port;
    const httpPort = await freePort();
    const get = async (path: string) => fetch(`http://127.0.0.1:${httpPort}${path}`);
    let users: string[] = [];
    const bed = await Bed.create(
      admin,
      samba,
      'smtpdown',
      async (ou) => {
        users = await people(ou, 'down', 2);
      },
      {
        smtpPort: port,
        extra: `notify: { objectModified: true }\npoll: { schedule: "1s", trigger: schedule }\ndelivery: { retryDelay: "2s", maxAttempts: 2 }\nhttp: { listen: "127.0.0.1:${httpPort}" }`,
      },
    );
    const daemon = bed.daemon();
    daemons.push(daemon);
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
    await smtp.stop();

    // Three cycles, each changing both users: three messages per recipient, in this order.
    // Each cycle sets another attribute, so that a message names only its own change.
    const attributes = ['title', 'department', 'company'];
    const expected: { to: string; marker: string }[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      const from = daemon.mark();
      for (const [i, dn] of users.entries()) {
        const marker = `outage-${cycle}-${i}`;
        await admin.modify(dn, 'replace', attributes[cycle]!, [marker]);
        expected.push({ to: `down${i}@example.test`, marker });
      }
      await daemon.waitFor(
        (l) => l['message'] === 'poll done' && Number(l['queued']) === 2,
        `cycle ${cycle}`,
        20_000,
        from,
      );
      await daemon.waitFor(
        (l) => l['message'] === 'mail waits in the outbox',
        'the failed delivery',
        20_000,
        from,
      );
    }
    await sleep(3_000); // more failed rounds than maxAttempts allows a message
    const waiting = JSON.parse((await bed.run('outbox', 'list', '--json')).stdout) as {
      status: string;
      attempts: number;
    }[];
    expect(waiting.map((m) => [m.status, m.attempts])).toEqual(waiting.map(() => ['pending', 0]));
    // Nothing has failed, yet mail has not moved for more than three poll intervals: the
    // operator is told why, by /healthz and /metrics.
    const down = await get('/healthz');
    expect(down.status).toBe(503);
    expect(((await down.json()) as { reasons: string[] }).reasons).toEqual([
      expect.stringMatching(
        /^the SMTP server has not taken mail since \S+: .*ECONNREFUSED.* \(6 messages wait in the outbox\)$/,
      ),
    ]);
    expect(await (await get('/metrics')).text()).toMatch(/^adnotify_smtp_down 1$/m);

    smtp = await SmtpCapture.start({ port });
    await until('every message', () => tally(expected, texts(smtp)).lost.length === 0);
    await until('/healthz to recover', async () => (await get('/healthz')).status === 200);
    expect(await (await get('/metrics')).text()).toMatch(/^adnotify_smtp_down 0$/m);
    const result = tally(expected, texts(smtp));
    for (const i of [0, 1]) {
      const order = smtp.messages
        .filter((m) => m.to.includes(`down${i}@example.test`))
        .map((m) => /outage-\d-\d/.exec(m.parsed.text ?? '')?.[0]);
      expect(order).toEqual([0, 1, 2].map((c) => `outage-${c}-${i}`));
    }
    record({
      scenario: 'SMTP down for 3 cycles',
      faults: 'SMTP server stopped, then started',
      changes: expected.length,
      expected: expected.length,
      ...counts(result),
    });
    expect(result.duplicated).toBe(0);
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    await smtp.stop();
  });

  it('SMTP answering 4xx is retried until it takes the message; 5xx and endless 4xx end failed, in outbox list and /metrics', async () => {
    const deferrals = new Map<string, number>();
    const smtp = await SmtpCapture.start({
      reject: (a) => a.startsWith('gone'),
      // greylisting: twice, then accepted; "busy" forever
      defer: (a) => {
        const n = (deferrals.get(a) ?? 0) + 1;
        deferrals.set(a, n);
        return a.startsWith('busy') || (a.startsWith('grey') && n <= 2);
      },
    });
    const metricsPort = await freePort();
    const dns: Record<string, string> = {};
    const bed = await Bed.create(
      admin,
      samba,
      'smtpcodes',
      async (ou) => {
        for (const who of ['grey', 'gone', 'busy', 'fine']) {
          dns[who] = await admin.user(ou, `${who}x`, { mail: `${who}@example.test` }, { password: PASSWORD });
        }
      },
      {
        smtpPort: smtp.port,
        extra: `notify: { objectModified: true }\npoll: { schedule: "1s", trigger: schedule }\ndelivery: { retryDelay: "1s", maxAttempts: 3 }\nhttp: { listen: "127.0.0.1:${metricsPort}" }`,
      },
    );
    const daemon = bed.daemon();
    daemons.push(daemon);
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
    for (const who of Object.keys(dns)) await admin.modify(dns[who]!, 'replace', 'title', [`codes-${who}`]);

    const list = async () =>
      JSON.parse((await bed.run('outbox', 'list', '--json')).stdout) as {
        status: string;
        attempts: number;
        envelope: { to: string[] };
        lastError: string | null;
      }[];
    await until('the outcome of each message', async () => {
      const rows = await list();
      return rows.length === 4 && rows.every((r) => r.status !== 'pending');
    });
    const rows = await list();
    const row = (who: string) => rows.find((r) => r.envelope.to.includes(`${who}@example.test`));
    expect(row('fine')).toMatchObject({ status: 'sent', attempts: 1 });
    expect(row('grey')).toMatchObject({ status: 'sent', attempts: 3 });
    expect(row('gone')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(row('gone')?.lastError).toMatch(/550/);
    expect(row('busy')).toMatchObject({ status: 'failed', attempts: 3 });
    expect(row('busy')?.lastError).toMatch(/451/);
    const failed = await bed.run('outbox', 'list', '--status', 'failed');
    expect(failed.stdout).toMatch(/gone@example\.test/);
    expect(failed.stdout).toMatch(/busy@example\.test/);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^adnotify_outbox_messages\{status="failed"\} 2$/m);
    expect(metrics).toMatch(/^adnotify_outbox_messages\{status="sent"\} 2$/m);
    const delivered = tally(
      ['fine', 'grey'].map((w) => ({ to: `${w}@example.test`, marker: `codes-${w}` })),
      texts(smtp),
    );
    record({
      scenario: 'SMTP 4xx and 5xx',
      faults: '451 twice, 451 always, 550',
      changes: 4,
      expected: 2,
      ...counts(delivered),
    });
    expect(delivered.duplicated).toBe(0);
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    await smtp.stop();
  });

  it('the DC stopped in the middle of a cycle and started again: no change missed, none repeated', async () => {
    const smtp = await SmtpCapture.start();
    let users: string[] = [];
    const bed = await Bed.create(
      admin,
      samba,
      'dcdown',
      async (ou) => {
        users = await people(ou, 'dcdown', 40);
      },
      {
        smtpPort: smtp.port,
        // Pages of 5 entries: a cycle of 40 changes takes several requests to read.
        directoryExtra: '  pageSize: 5',
        extra: 'notify: { objectModified: true }\npoll: { schedule: "1s", trigger: schedule }',
      },
    );
    const daemon = bed.daemon();
    daemons.push(daemon);
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
    const expected = users.map((_, i) => ({ to: `dcdown${i}@example.test`, marker: `dcdown-${i}` }));
    for (const [i, dn] of users.entries()) await admin.modify(dn, 'replace', 'title', [`dcdown-${i}`]);

    // Stop the DC right after the first page of the cycle.
    const from = daemon.mark();
    await daemon.waitFor(
      (l) => l['message'] === 'read page' && Number(l['entries']) > 0,
      'a page',
      20_000,
      from,
    );
    process.kill(samba.pid, 'SIGKILL');
    await daemon.waitFor((l) => l['message'] === 'poll failed; retrying', 'the failed poll', 20_000, from);
    const restarted = await restartSamba(samba);
    samba.pid = restarted.info.pid;
    await admin.close().catch(() => undefined);
    admin = await DirectoryAdmin.connect(samba); // its connection died with the DC
    await until('every message', () => tally(expected, texts(smtp)).lost.length === 0, 90_000);
    await sleep(2_000);
    const result = tally(expected, texts(smtp));
    record({
      scenario: 'DC stopped mid-cycle',
      faults: 'samba SIGKILLed after page 1, restarted',
      changes: expected.length,
      expected: expected.length,
      ...counts(result),
    });
    expect(result.duplicated).toBe(0);
    const history = JSON.parse((await bed.run('history', '--since', '1h', '--json')).stdout) as unknown[];
    expect(history).toHaveLength(40);
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    await smtp.stop();
  });

  it('a DC too slow to answer: the timeout is hit, the poll retried, and the change reported once', async () => {
    const smtp = await SmtpCapture.start();
    const proxy = await LdapProxy.start(samba);
    let user = '';
    const bed = await Bed.create(
      admin,
      samba,
      'slowdc',
      async (ou) => {
        user = (await people(ou, 'slow', 1))[0]!;
      },
      {
        smtpPort: smtp.port,
        urls: [proxy.url],
        timeoutSeconds: 2,
        extra: 'notify: { objectModified: true }\npoll: { schedule: "1s", trigger: schedule }',
      },
    );
    const daemon = bed.daemon();
    daemons.push(daemon);
    await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
    proxy.holdAfterSearches(proxy.requests.filter((r) => r === 'search').length);
    await admin.modify(user, 'replace', 'title', ['slow-1']);
    const from = daemon.mark();
    const failed = await daemon.waitFor(
      (l) => l['message'] === 'poll failed; retrying',
      'a timeout',
      30_000,
      from,
    );
    expect(JSON.stringify(failed)).toMatch(/no answer within directory\.timeoutSeconds/);
    proxy.release();
    await until(
      'the message',
      () => tally([{ to: 'slow0@example.test', marker: 'slow-1' }], texts(smtp)).lost.length === 0,
    );
    await sleep(2_000);
    const result = tally([{ to: 'slow0@example.test', marker: 'slow-1' }], texts(smtp));
    record({
      scenario: 'slow DC',
      faults: 'LDAP answers withheld past timeoutSeconds',
      changes: 1,
      expected: 1,
      ...counts(result),
    });
    expect(result.duplicated).toBe(0);
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    await proxy.stop();
    await smtp.stop();
  });
});
