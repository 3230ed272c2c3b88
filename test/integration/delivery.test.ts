/**
 * Delivery end to end: the outbox against a real SMTP server on loopback, with STARTTLS and
 * AUTH, outages, a kill mid-delivery, the flood guard, dry runs and test-email.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import { freePort, startDaemon } from '../support/daemon.js';
import { directoryAndCaptures } from '../support/directoryAndMail.js';
import type { SmtpCaptureOptions } from '../support/smtpCapture.js';
import { ownedGroup } from '../support/ownedGroup.js';
import type { Watch } from '../support/watch.js';

const samba = sambaOrNull();

describe.skipIf(!samba)('delivery through the outbox (Samba AD DC + SMTP on loopback)', () => {
  if (!samba) return;
  const tlsDir = join(samba.dir, 'test-tls');
  const SMTP_PASSWORD = 'smtp-Deliv3ry-pw';
  const bed = directoryAndCaptures(samba, 'after each test');
  const capture = (options: SmtpCaptureOptions = {}) => bed.capture(options);

  /** ownedGroup's scenario, sending to the SMTP server at `smtpPort`. */
  const scenario = (
    name: string,
    smtpPort: number,
    more: { extra?: string; smtpExtra?: string; env?: NodeJS.ProcessEnv; smtpRequireTls?: boolean } = {},
  ) =>
    ownedGroup(bed.admin, samba, name, {
      smtpPort,
      ...(more.extra ? { extra: more.extra } : {}),
      ...(more.smtpExtra ? { smtpExtra: more.smtpExtra } : {}),
      ...(more.env ? { env: more.env } : {}),
      ...(more.smtpRequireTls ? { smtpRequireTls: true } : {}),
    });

  const outbox = async (watch: Watch) => {
    const result = await watch.run('outbox', 'list', '--json');
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as { id: number; status: string; attempts: number; messageId: string }[];
  };

  it('sends through STARTTLS with AUTH, the certificate verified, the password never shown', async () => {
    const smtp = await capture({
      tls: { key: readFileSync(join(tlsDir, 'server.key')), cert: readFileSync(join(tlsDir, 'server.pem')) },
      auth: { user: 'svc', pass: SMTP_PASSWORD },
    });
    const { watch, change } = await scenario('starttls', smtp.port, {
      smtpExtra: `  tls:\n    caFile: ${JSON.stringify(join(tlsDir, 'ca.pem'))}\n  auth:\n    user: svc\n    pass: "\${env:TEST_SMTP_PASSWORD}"`,
      env: { TEST_SMTP_PASSWORD: SMTP_PASSWORD },
      smtpRequireTls: true,
    });
    await change(1);
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    expect(smtp.messages).toHaveLength(2);
    expect(`${result.stdout}${result.stderr}`).not.toContain(SMTP_PASSWORD);

    // A wrong password: change detection goes on, the mail waits (exit 75), nothing is lost.
    watch.env = { ...watch.env, TEST_SMTP_PASSWORD: 'wrong-Passw0rd-9' };
    await change(1);
    const refused = await watch.run('once');
    expect(refused.code).toBe(75);
    expect(refused.stderr).toMatch(/SMTP authentication failed/);
    expect(`${refused.stdout}${refused.stderr}`).not.toContain('wrong-Passw0rd-9');
    expect((await outbox(watch)).filter((m) => m.status === 'pending')).toHaveLength(2);
  });

  it('/healthz never shows a secret, even when the SMTP server quotes the password back', async () => {
    const smtp = await capture({
      tls: { key: readFileSync(join(tlsDir, 'server.key')), cert: readFileSync(join(tlsDir, 'server.pem')) },
      auth: { user: 'svc', pass: SMTP_PASSWORD },
      // The daemon's check at start logs in; every later login is refused, quoting the password.
      refuseAfterLogins: { logins: 1, reply: (pw) => `5.7.8 Authentication failed for svc with ${pw}` },
    });
    const httpPort = await freePort();
    const { watch, change } = await scenario('healthsecret', smtp.port, {
      smtpExtra: `  tls:\n    caFile: ${JSON.stringify(join(tlsDir, 'ca.pem'))}\n  auth:\n    user: svc\n    pass: "\${env:TEST_SMTP_PASSWORD}"`,
      env: { TEST_SMTP_PASSWORD: SMTP_PASSWORD },
      smtpRequireTls: true,
      extra: `poll: { schedule: "1s" }\nhttp: { listen: "127.0.0.1:${httpPort}" }`,
    });
    const daemon = startDaemon(watch.config, watch.env);
    try {
      await daemon.waitFor((l) => l['message'] === 'poll done', 'the first poll');
      await change(1);
      const health = async () => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
        return { status: res.status, body: await res.text() };
      };
      let seen = await health();
      for (let i = 0; i < 100 && seen.status === 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = await health();
      }
      expect(seen.status).toBe(503);
      expect(seen.body).toMatch(/Authentication failed for svc with \*\*\*/);
      expect(seen.body).not.toContain(SMTP_PASSWORD);
      expect(daemon.output()).not.toContain(SMTP_PASSWORD);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });

  it('an SMTP outage over several cycles delays mail and loses none; each message arrives once', async () => {
    const smtp = await capture();
    const port = smtp.port;
    const { watch, change } = await scenario('outage', port, { extra: 'delivery: { retryDelay: "1s" }' });
    await smtp.stop();
    for (let cycle = 0; cycle < 3; cycle++) {
      await change(2);
      const result = await watch.run('once');
      expect(result.code, result.stderr).toBe(75);
      expect(result.stdout).toMatch(/^incremental: \d+ events from \d+ changed objects, 3 messages queued/m);
      expect(result.stderr).toMatch(/the SMTP server did not take messages .*retried by the next run/);
    }
    expect(await watch.newEvents()).toHaveLength(12); // per cycle: 2 contacts created, 2 added
    const queued = await outbox(watch);
    expect(queued).toHaveLength(9);
    expect(queued.every((m) => m.status === 'pending')).toBe(true);

    const back = await capture({ port });
    await new Promise((r) => setTimeout(r, 4_000)); // the back-off of the messages tried during the outage
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    const ids = back.messages.map((m) => m.parsed.messageId);
    expect(ids).toHaveLength(9);
    expect(new Set(ids).size).toBe(9);
    expect(new Set(ids)).toEqual(new Set(queued.map((m) => m.messageId)));
    expect((await outbox(watch)).every((m) => m.status === 'sent')).toBe(true);
  });

  it('a kill during delivery loses nothing: accepted messages may repeat, the rest arrive after', async () => {
    const hung = await capture({ hangAfter: 2 });
    const { watch, change } = await scenario('kill', hung.port);
    await change(4); // 5 messages
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/bin.ts', '--config', watch.config, 'once'],
      {
        env: { ...process.env, ...watch.env },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<string | null>((resolve) => {
      child.on('exit', (_code, signal) => {
        resolve(signal);
      });
    });
    for (let i = 0; i < 300 && !hung.hanging; i++) await new Promise((r) => setTimeout(r, 50));
    expect(hung.hanging).toBe(true);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const beforeKill = hung.messages.map((m) => m.parsed.messageId);
    expect(beforeKill).toHaveLength(2);
    const port = hung.port;
    await hung.stop();

    const smtp = await capture({ port });
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    const rows = await outbox(watch);
    expect(rows).toHaveLength(5);
    expect(rows.every((m) => m.status === 'sent')).toBe(true);
    const received = [...beforeKill, ...smtp.messages.map((m) => m.parsed.messageId)];
    expect(new Set(received)).toEqual(new Set(rows.map((m) => m.messageId)));
    expect(received.length).toBeLessThanOrEqual(6); // at most the one in flight repeats
  });

  it('the flood guard holds a cycle above maxMessagesPerCycle, alerts To/CC, and outbox release sends', async () => {
    const smtp = await capture();
    const { watch, change } = await scenario('flood', smtp.port, {
      extra: 'delivery: { maxMessagesPerCycle: 3 }',
      smtpExtra: '  to: [helpdesk@example.test]',
    });
    await change(3); // 3 members + owner + admin copy = 5 > 3
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/5 messages queued and held/);
    expect(result.stdout).toMatch(
      /^mail: 5 messages held by the flood guard; "adnotify outbox release" sends them$/m,
    );
    expect(smtp.messages.map((m) => m.parsed.subject)).toEqual([
      '[adnotify] 5 notifications held: release or discard them',
    ]);
    expect(smtp.messages[0]?.to).toEqual(['helpdesk@example.test']);
    const held = await watch.run('outbox', 'list', '--status', 'held');
    expect(held.stdout.trim().split('\n')).toHaveLength(5);

    const release = await watch.run('outbox', 'release');
    expect(release.code, release.stderr).toBe(0);
    expect(release.stdout).toMatch(/^outbox: 5 held messages released$/m);
    expect(smtp.messages).toHaveLength(6);
  });

  it('delivery.dryRun writes .eml files and sends nothing', async () => {
    const smtp = await capture();
    const { watch, change } = await scenario('dryrun', smtp.port, { extra: 'delivery: { dryRun: true }' });
    await change(1);
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    const dir = join(watch.dir, 'state', 'outbox-eml');
    expect(result.stdout).toContain(`mail: 2 sent written as .eml files to ${dir}`);
    expect(smtp.messages).toEqual([]);
    const files = readdirSync(dir);
    expect(files).toHaveLength(2);
    const eml = readFileSync(join(dir, files[0]!), 'utf8');
    expect(eml).toMatch(/^Subject: /m);
    expect(eml).toMatch(/^Message-ID: <[0-9a-f-]+@example\.test>$/m);
  });

  it('a recipient refused for good fails at once; outbox retry --all sends it when fixed', async () => {
    let refuse = true;
    const smtp = await capture({ reject: (address) => refuse && address.startsWith('m1-refused') });
    const { watch, change } = await scenario('refused', smtp.port);
    await change(1);
    const first = await watch.run('once');
    expect(first.code, first.stderr).toBe(0);
    expect(smtp.messages).toHaveLength(1);
    const failed = (await outbox(watch)).filter((m) => m.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.attempts).toBe(1);
    const list = await watch.run('outbox', 'list', '--status', 'failed');
    expect(list.stdout).toMatch(/last error: .*550/);

    refuse = false;
    const retry = await watch.run('outbox', 'retry', '--all');
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toMatch(/^outbox: 1 failed messages queued again$/m);
    expect(smtp.messages).toHaveLength(2);
    const usage = await watch.run('outbox', 'retry');
    expect(usage.code).toBe(64);
  });

  it('a message deferred every time (4xx) is retried with back-off, then failed after maxAttempts', async () => {
    const smtp = await capture({ defer: (address) => address.startsWith('m1-deferred') });
    const { watch, change } = await scenario('deferred', smtp.port, {
      extra: 'delivery: { retryDelay: "1s", maxAttempts: 2 }',
    });
    await change(1);
    const first = await watch.run('once');
    expect(first.code, first.stderr).toBe(0); // the server is up: only this message waits
    expect(smtp.messages).toHaveLength(1);
    let rows = await outbox(watch);
    const deferred = rows.find((m) => m.status === 'pending');
    expect(deferred?.attempts).toBe(1);

    const early = await watch.run('once'); // not due yet: no attempt
    expect(early.code, early.stderr).toBe(0);
    expect((await outbox(watch)).find((m) => m.id === deferred?.id)?.attempts).toBe(1);

    await new Promise((r) => setTimeout(r, 1_200));
    await watch.run('once');
    rows = await outbox(watch);
    expect(rows.find((m) => m.id === deferred?.id)).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('sends over implicit TLS (smtp.secure: true) with the certificate verified', async () => {
    const smtp = await capture({
      secure: true,
      tls: { key: readFileSync(join(tlsDir, 'server.key')), cert: readFileSync(join(tlsDir, 'server.pem')) },
    });
    const { watch, change } = await scenario('implicit', smtp.port, {
      smtpExtra: `  secure: true\n  tls:\n    caFile: ${JSON.stringify(join(tlsDir, 'ca.pem'))}`,
    });
    await change(1);
    const result = await watch.run('once');
    expect(result.code, result.stderr).toBe(0);
    expect(smtp.messages).toHaveLength(2);

    // Without the CA the certificate cannot be verified: nothing is sent, nothing is lost.
    writeFileSync(
      watch.config,
      readFileSync(watch.config, 'utf8').replace(/( {2}secure: true\n) {2}tls:\n {4}caFile: .*\n/, '$1'),
    );
    await change(1);
    const untrusted = await watch.run('once');
    expect(untrusted.code, untrusted.stderr).toBe(75);
    expect(untrusted.stderr).toMatch(/TLS certificate verification failed/);
    expect(smtp.messages).toHaveLength(2);
  });

  it('test-email sends a message, or says what the server said', async () => {
    const smtp = await capture({ auth: { user: 'svc', pass: SMTP_PASSWORD } });
    const { watch } = await scenario('testmail', smtp.port);
    const noAuth = await watch.run('test-email', '--to', 'admin@example.test');
    expect(noAuth.code).toBe(69);
    expect(noAuth.stderr).toMatch(/^error: 127\.0\.0\.1:\d+: SMTP /m);

    const open = await capture();
    writeFileSync(
      watch.config,
      readFileSync(watch.config, 'utf8').replace(`port: ${smtp.port}`, `port: ${open.port}`),
    );
    const ok = await watch.run('test-email', '--to', 'admin@example.test');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(
      /^test message sent to admin@example\.test via 127\.0\.0\.1:\d+; the server said: 250 /m,
    );
    expect(open.messages.map((m) => [m.to, m.parsed.subject])).toEqual([
      [['admin@example.test'], 'adnotify test message'],
    ]);

    const bad = await watch.run('test-email', '--to', 'not an address');
    expect(bad.code).toBe(64);
  });
});
