/**
 * Mail through Microsoft 365 with XOAUTH2 (smtp.auth.type oauth2): an app-only token from a
 * loopback Microsoft identity platform (client credentials, @azure/msal-node), an SMTP server
 * that, like Exchange Online, takes only XOAUTH2 with a valid token. adnotify runs as its own
 * process, trusting the test CA through NODE_EXTRA_CA_CERTS. No internet.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tempDir } from '../support/cli.js';
import { adnotifyProcess as adnotify, freePort, startDaemon } from '../support/daemon.js';
import { changeView, Renderer } from '../../src/mail/render.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { MicrosoftGraph, MicrosoftIdentity } from '../support/microsoftIdentity.js';
import { makeCa } from '../support/samba.js';
import { SmtpCapture } from '../support/smtpCapture.js';

const MAILBOX = 'adnotify@contoso.test';

/**
 * A config in a new directory whose directory is never reached (these tests only mail),
 * with `mail` (its smtp:, delivery: and microsoft365: sections) after the common part.
 */
function offlineConfig(mail: string): { file: string; state: string } {
  const dir = tempDir();
  const file = join(dir, 'adnotify.yaml');
  const state = join(dir, 'state.db');
  writeFileSync(
    file,
    `version: 1
directory: { urls: ["ldaps://127.0.0.1:1"], bindDN: "CN=svc,DC=x", bindPassword: "unused", baseDN: "DC=x" }
state: { path: "${state}" }
${mail}`,
  );
  return { file, state };
}

describe('smtp.auth.type oauth2: XOAUTH2 with a Microsoft 365 app-only token (loopback identity + SMTP)', () => {
  let identity: MicrosoftIdentity;
  let smtp: SmtpCapture;

  beforeAll(async () => {
    identity = await MicrosoftIdentity.start();
    smtp = await SmtpCapture.start({ xoauth2: { user: MAILBOX, valid: (t) => identity.valid(t) } });
  });
  afterAll(async () => {
    await smtp.stop();
    await identity.stop();
  });

  function config(secret: string, user = MAILBOX): { file: string; env: NodeJS.ProcessEnv } {
    const { file } = offlineConfig(
      `smtp:
  host: 127.0.0.1
  port: ${smtp.port}
  requireTls: false
  allowInsecureAuth: true
  from: "Directory Notifications <${MAILBOX}>"
  auth: { type: oauth2, user: "${user}" }
${identity.configBlock()}`,
    );
    return { file, env: { NODE_EXTRA_CA_CERTS: identity.caFile, TEST_CLIENT_SECRET: secret } };
  }

  it('test-email logs in with a token for the Exchange Online scope and delivers; no secret or token is printed', async () => {
    const { file, env } = config(identity.clientSecret);
    const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);

    expect(result.code, result.out).toBe(0);
    expect(smtp.messages.map((m) => m.to)).toEqual([['ops@contoso.test']]);
    expect(identity.issued.map((t) => t.scope)).toEqual(['https://outlook.office365.com/.default']);
    expect(result.out).not.toContain(identity.clientSecret);
    for (const t of identity.issued) expect(result.out).not.toContain(t.token);
  });

  it('a running daemon renews its token across an SMTP outage longer than the token lives', async () => {
    const { file, env } = config(identity.clientSecret);
    const dir = join(file, '..');
    writeFileSync(
      file,
      `${readFileSync(file, 'utf8')}poll: { schedule: "1s" }\nlogging: { level: debug, format: json }\n`,
    );
    const state = join(dir, 'state.db');
    const queue = async (n: number) => {
      const store = SqliteStore.open(state);
      await store.outbox.add({
        cycleId: null,
        createdAt: new Date().toISOString(),
        status: 'pending',
        kind: 'test',
        objectGuid: null,
        messageId: `<renew-${n}@contoso.test>`,
        envelope: { from: MAILBOX, to: [`renew${n}@contoso.test`], cc: [] },
        subject: `renew ${n}`,
        text: 'x',
        html: '<p>x</p>',
      });
      await store.close();
    };
    identity.lifetime = 3;
    const issuedBefore = identity.issued.length;
    await queue(1);
    const daemon = startDaemon(file, env);
    try {
      await daemon.waitFor((l) => l['message'] === 'message sent', 'the first message');
      const after = daemon.mark();
      const port = smtp.port;
      await smtp.stop(); // the outage
      await queue(2);
      await new Promise((r) => setTimeout(r, 5_000)); // longer than the token lives
      smtp = await SmtpCapture.start({ port, xoauth2: { user: MAILBOX, valid: (t) => identity.valid(t) } });
      await daemon.waitFor((l) => l['message'] === 'message sent', 'the second message', 60_000, after);
      expect(smtp.messages.map((m) => m.to)).toEqual([['renew2@contoso.test']]);
      expect(identity.issued.length - issuedBefore).toBeGreaterThanOrEqual(2);
      expect(daemon.output()).not.toContain(identity.clientSecret);
      for (const t of identity.issued) expect(daemon.output()).not.toContain(t.token);
    } finally {
      identity.lifetime = 3600;
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  });

  it('a wrong client secret: exit 77 saying which step failed and what to check, the secret not printed', async () => {
    const { file, env } = config('wrong-secret-value');
    const refused = identity.refused;
    const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);

    expect(result.code, result.out).toBe(77);
    expect(identity.refused).toBeGreaterThan(refused);
    expect(result.out).toMatch(
      /Microsoft 365 token request .* was refused \(invalid_client: AADSTS7000215: Invalid client secret provided\.\)\. Check microsoft365\.tenantId, clientId and clientSecret/s,
    );
    expect(result.out).not.toContain('wrong-secret-value');
  });

  it('a token the server refuses for the mailbox: exit 77 naming SMTP.SendAsApp, no token printed', async () => {
    // Exchange Online refuses a valid token for a mailbox the app's service principal may not
    // use (535 5.7.3): here the server takes XOAUTH2 for MAILBOX only.
    const { file, env } = config(identity.clientSecret, 'someone-else@contoso.test');
    const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);

    expect(result.code, result.out).toBe(77);
    expect(result.out).toMatch(
      /refused the Microsoft 365 token for someone-else@contoso\.test \(.*5\.7\.3 Authentication unsuccessful.*\)\. The app needs the SMTP\.SendAsApp permission/,
    );
    for (const t of identity.issued) expect(result.out).not.toContain(t.token);
  });
});

describe('delivery.transport graph: sendMail with the message as MIME (loopback identity + Graph)', () => {
  let identity: MicrosoftIdentity;
  let graph: MicrosoftGraph;

  beforeAll(async () => {
    identity = await MicrosoftIdentity.start();
    graph = await MicrosoftGraph.start(identity);
  });
  afterAll(async () => {
    await graph.stop();
    await identity.stop();
  });

  /**
   * A config for Graph, and a rendered change notification held in its outbox. `credential`:
   * the lines proving the app (default its client secret, from the env).
   */
  async function setup(credential?: string): Promise<{
    file: string;
    env: NodeJS.ProcessEnv;
    state: string;
  }> {
    const { file, state } = offlineConfig(
      `smtp: { host: smtp.invalid, from: "Directory Notifications <${MAILBOX}>" }
delivery: { transport: graph }
${identity.configBlock({ credential, graph })}`,
    );
    const store = SqliteStore.open(state);
    const when = new Date();
    const rendered = Renderer.load(null).render(
      'change',
      changeView({
        object: { guid: 'g', dn: 'CN=Ann,OU=Staff,DC=contoso,DC=test', class: 'user' },
        displayName: 'Ann',
        events: [
          {
            type: 'object.modified',
            object: { guid: 'g', dn: 'CN=Ann,OU=Staff,DC=contoso,DC=test', class: 'user' },
            changes: [{ attribute: 'title', before: [], after: ['Engineer'] }],
          },
        ],
        reasons: ['self'],
        when,
        recipientName: 'Ann',
      }),
    );
    await store.outbox.add({
      cycleId: null,
      createdAt: when.toISOString(),
      status: 'held',
      kind: 'change',
      objectGuid: 'g',
      messageId: '<m1@contoso.test>',
      envelope: { from: `Directory Notifications <${MAILBOX}>`, to: ['ann@contoso.test'], cc: [] },
      ...rendered,
    });
    await store.close();
    return {
      file,
      env: { NODE_EXTRA_CA_CERTS: identity.caFile, TEST_CLIENT_SECRET: identity.clientSecret },
      state,
    };
  }

  it('a notification goes out as MIME through sendMail, text, HTML and headers as SMTP would send them', async () => {
    const { file, env } = await setup();
    const result = await adnotify(['--config', file, 'outbox', 'release'], env);

    expect(result.code, result.out).toBe(0);
    const [sent] = graph.messages.splice(0);
    expect(sent?.sender).toBe(MAILBOX);
    expect(sent?.parsed.subject).toBe('Changes to user Ann');
    expect(sent?.parsed.text).toContain('title: (none) -> Engineer');
    expect(sent?.parsed.html).toContain('<td');
    expect(sent?.parsed.headers.get('auto-submitted')).toBe('auto-generated');
    expect(sent?.parsed.messageId).toBe('<m1@contoso.test>');
    expect(identity.issued.at(-1)?.scope).toBe(`${graph.baseUrl}/.default`);
    for (const t of identity.issued) expect(result.out).not.toContain(t.token);
  });

  it('429 with Retry-After: retried after the time Graph asked for, then sent', async () => {
    const { file, env, state } = await setup();
    graph.next.push({ status: 429, code: 'ApplicationThrottled', retryAfter: 120 });
    const first = await adnotify(['--config', file, 'outbox', 'release'], env);
    expect(first.out).toMatch(/0 sent/);
    const store = SqliteStore.open(state);
    const [row] = await store.outbox.list();
    await store.close();
    expect(row?.lastError).toContain('429 ApplicationThrottled');
    const waited = Date.parse(row?.nextAttemptAt ?? '') - Date.parse(row?.createdAt ?? '');
    expect(waited).toBeGreaterThanOrEqual(115_000);

    const later = new Date(Date.now() + 130_000).toISOString();
    const second = await adnotify(['--config', file, 'outbox', 'retry', '--all'], {
      ...env,
      ADNOTIFY_FAKE_NOW: later,
    });
    expect(second.code, second.out).toBe(0);
    expect(graph.messages.splice(0)).toHaveLength(1);
  });

  it('403 (the app may not send as the mailbox): every message waits, exit 75 saying what to grant', async () => {
    const { file, env, state } = await setup();
    graph.next.push({ status: 403, code: 'ErrorAccessDenied' });
    const result = await adnotify(['--config', file, 'outbox', 'release'], env);

    expect(result.code, result.out).toBe(75);
    expect(result.out).toMatch(/403 ErrorAccessDenied.*Mail\.Send application permission/s);
    const store = SqliteStore.open(state);
    expect(await store.outbox.counts()).toMatchObject({ pending: 1, failed: 0 });
    expect((await store.outbox.list())[0]?.attempts).toBe(0);
    await store.close();
  });

  it('401 (Graph does not take the token): every message waits, exit 75 saying what to check', async () => {
    const { file, env, state } = await setup();
    graph.next.push({ status: 401, code: 'InvalidAuthenticationToken' });
    const result = await adnotify(['--config', file, 'outbox', 'release'], env);

    expect(result.code, result.out).toBe(75);
    expect(result.out).toMatch(
      /Microsoft Graph refused adnotify's credentials \(Microsoft Graph answered 401 InvalidAuthenticationToken .*did not accept the app's token.*microsoft365\.graphBaseUrl/,
    );
    const store = SqliteStore.open(state);
    expect((await store.outbox.list())[0]).toMatchObject({ status: 'pending', attempts: 0 });
    await store.close();
  });

  it('403 under a running daemon: sending stops until the config is reloaded; /healthz says why', async () => {
    const { file, env, state } = await setup();
    const port = await freePort();
    writeFileSync(
      file,
      `${readFileSync(file, 'utf8')}poll: { schedule: "1s" }\nhttp: { listen: "127.0.0.1:${port}" }\n`,
    );
    const store = SqliteStore.open(state);
    await store.outbox.release(new Date().toISOString()); // the held notification, due now
    await store.close();
    graph.next.push({ status: 403, code: 'ErrorAccessDenied' });
    const requests = graph.requests;
    const daemon = startDaemon(file, env);
    try {
      await daemon.waitFor(
        (l) =>
          l['message'] ===
          'the mail service refused the credentials; sending no more until the config is reloaded',
        'the refusal',
      );
      const health = async () =>
        (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
          healthy: boolean;
          reasons: string[];
        };
      const refused = await health();
      expect(refused.healthy).toBe(false);
      expect(refused.reasons).toContainEqual(
        expect.stringMatching(
          /^Microsoft Graph refused adnotify's credentials: .*403 ErrorAccessDenied.*Mail\.Send.* adnotify sends no more mail until its config is reloaded \(SIGHUP\) or it is restarted \(1 messages wait in the outbox\)$/,
        ),
      );
      // Polls go on (three at least, one a second); Graph is asked nothing more.
      const polls = daemon.mark();
      await daemon.waitFor((l) => l['message'] === 'poll failed; retrying', 'a later poll', 20_000, polls);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(graph.requests - requests).toBe(1);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^adnotify_mail_refused 1$/m);

      // The permission is granted; the administrator reloads: the message goes out at once.
      const reloaded = daemon.mark();
      daemon.child.kill('SIGHUP');
      await daemon.waitFor((l) => l['message'] === 'message sent', 'the held message', 20_000, reloaded);
      expect(graph.messages.splice(0).map((m) => m.parsed.subject)).toEqual(['Changes to user Ann']);
      expect((await health()).reasons.filter((r) => r.includes('refused'))).toEqual([]);
    } finally {
      graph.next.length = 0;
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  });

  it('a running daemon renews its Graph token across an outage longer than the token lives', async () => {
    const { file, env, state } = await setup();
    writeFileSync(file, `${readFileSync(file, 'utf8')}poll: { schedule: "1s" }\n`);
    identity.lifetime = 3;
    graph.down = true; // the outage, from the start: the first send finds Graph unreachable
    const store = SqliteStore.open(state);
    await store.outbox.release(new Date().toISOString());
    await store.close();
    const issued = identity.issued.length;
    const daemon = startDaemon(file, env);
    try {
      await daemon.waitFor((l) => l['message'] === 'mail waits in the outbox', 'Graph unreachable');
      await new Promise((r) => setTimeout(r, 5_000)); // longer than the token lives
      const after = daemon.mark();
      graph.down = false;
      await daemon.waitFor((l) => l['message'] === 'message sent', 'the message', 30_000, after);
      // Graph takes only unexpired tokens: the message went out with a token issued after the
      // outage began, never with the expired one.
      expect(graph.messages.splice(0)).toHaveLength(1);
      expect(identity.issued.length - issued).toBeGreaterThanOrEqual(2);
      expect(daemon.output()).not.toMatch(/refused the credentials/);
      expect(daemon.output()).not.toContain(identity.clientSecret);
      for (const t of identity.issued) expect(daemon.output()).not.toContain(t.token);
      // Nor in the state, nor in what status prints from it.
      const status = await adnotify(['--config', file, 'status', '--json'], env);
      expect(status.code, status.out).toBe(0);
      const stored = ['', '-wal']
        .filter((suffix) => existsSync(`${state}${suffix}`))
        .map((suffix) => readFileSync(`${state}${suffix}`).toString('latin1'))
        .join('');
      for (const t of identity.issued) {
        expect(stored).not.toContain(t.token);
        expect(status.out).not.toContain(t.token);
      }
      expect(stored).not.toContain(identity.clientSecret);
    } finally {
      graph.down = false;
      identity.lifetime = 3600;
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  });

  it('a client certificate instead of a secret: the signed assertion gets the token, and mail goes out', async () => {
    const dir = tempDir('adnotify-appcert-');
    const app = makeCa(dir, 'app', 'adnotify app');
    identity.certificate = readFileSync(app.ca, 'utf8');
    try {
      const { file, env } = await setup(`certificateFile: "${app.ca}"\n  privateKeyFile: "${app.key}"`);
      const checked = await adnotify(['--config', file, 'check-config'], env);
      expect(checked.code, checked.out).toBe(0);
      const granted = identity.credentials.length;
      const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);
      expect(result.code, result.out).toBe(0);
      expect(identity.credentials.slice(granted)).toEqual(['certificate']);
      expect(graph.messages.splice(0)).toHaveLength(1);

      // Another key, not registered to the app: refused, exit 77, naming the certificate.
      const other = makeCa(tempDir('adnotify-othercert-'), 'other', 'not the app');
      const wrong = await setup(`certificateFile: "${other.ca}"\n  privateKeyFile: "${other.key}"`);
      const refused = await adnotify(
        ['--config', wrong.file, 'test-email', '--to', 'ops@contoso.test'],
        wrong.env,
      );
      expect(refused.code, refused.out).toBe(77);
      expect(refused.out).toMatch(
        /was refused \(invalid_client: AADSTS700027: .*certificate.*\)\. Check microsoft365\./,
      );
      expect(refused.out).not.toContain('PRIVATE KEY');
    } finally {
      identity.certificate = null;
    }
  });

  it('400 ErrorInvalidRecipients fails that message only, for good', async () => {
    const { file, env, state } = await setup();
    graph.next.push({ status: 400, code: 'ErrorInvalidRecipients' });
    const result = await adnotify(['--config', file, 'outbox', 'release'], env);

    expect(result.code, result.out).toBe(0);
    const store = SqliteStore.open(state);
    expect((await store.outbox.list())[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await store.outbox.list())[0]?.lastError).toContain('400 ErrorInvalidRecipients');
    await store.close();
  });

  it('no such mailbox (Graph 404 ErrorInvalidUser): test-email exits 77 naming the sender to fix', async () => {
    const { file, env } = await setup();
    graph.next.push({ status: 404, code: 'ErrorInvalidUser' });
    const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);
    expect(result.code, result.out).toBe(77);
    expect(result.out).toMatch(
      /Microsoft Graph answered 404 ErrorInvalidUser .*there is no mailbox adnotify@contoso\.test\. Set microsoft365\.sender/,
    );
  });

  it('the token endpoint unreachable: mail waits, attempts untouched, exit 75; nothing says the secret is wrong', async () => {
    const { file, env, state } = await setup();
    const closed = `https://127.0.0.1:${await freePort()}`;
    writeFileSync(file, readFileSync(file, 'utf8').replace(identity.authorityHost, closed));
    const result = await adnotify(['--config', file, 'outbox', 'release'], env);

    expect(result.code, result.out).toBe(75);
    expect(result.out).toMatch(
      /Microsoft Graph did not take messages \(Microsoft 365 token request to https:\/\/127\.0\.0\.1:\d+ .* failed .*can be reached/,
    );
    expect(result.out).not.toMatch(/refused/);
    const after = SqliteStore.open(state);
    expect((await after.outbox.list())[0]).toMatchObject({ status: 'pending', attempts: 0 });
    await after.close();
  });

  it('test-email through Graph prints the request-id', async () => {
    const { file, env } = await setup();
    const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/via Microsoft Graph as adnotify@contoso\.test; request-id [0-9a-f-]{36}/);
    expect(graph.messages.splice(0).map((m) => m.parsed.to)).toHaveLength(1);
  });
});
