/**
 * Mail through Microsoft 365 with XOAUTH2 (smtp.auth.type oauth2): an app-only token from a
 * loopback Microsoft identity platform (client credentials, @azure/msal-node), an SMTP server
 * that, like Exchange Online, takes only XOAUTH2 with a valid token. adnotify runs as its own
 * process, trusting the test CA through NODE_EXTRA_CA_CERTS. No internet.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tempDir } from '../support/cli.js';
import { MicrosoftIdentity } from '../support/microsoftIdentity.js';
import { SmtpCapture } from '../support/smtpCapture.js';

const MAILBOX = 'adnotify@contoso.test';

/** `adnotify ...` as a process of its own (NODE_EXTRA_CA_CERTS is read at start); killed after 60 s. */
async function adnotify(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  return { code, out };
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

  function config(secret: string): { file: string; env: NodeJS.ProcessEnv } {
    const dir = tempDir();
    const file = join(dir, 'adnotify.yaml');
    writeFileSync(
      file,
      `version: 1
directory: { urls: ["ldaps://127.0.0.1:1"], bindDN: "CN=svc,DC=x", bindPassword: "unused", baseDN: "DC=x" }
state: { path: "${join(dir, 'state.db')}" }
smtp:
  host: 127.0.0.1
  port: ${smtp.port}
  requireTls: false
  allowInsecureAuth: true
  from: "Directory Notifications <${MAILBOX}>"
  auth: { type: oauth2, user: "${MAILBOX}" }
microsoft365:
  tenantId: "${identity.tenantId}"
  clientId: "${identity.clientId}"
  clientSecret: "\${env:TEST_CLIENT_SECRET}"
  authorityHost: "${identity.authorityHost}"
`,
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

  it('a wrong client secret: exit 77 saying which step failed and what to check, the secret not printed', async () => {
    const { file, env } = config('wrong-secret-value');
    const refused = identity.refused;
    const result = await adnotify(['--config', file, 'test-email', '--to', 'ops@contoso.test'], env);

    expect(result.code, result.out).toBe(77);
    expect(identity.refused).toBeGreaterThan(refused);
    expect(result.out).toMatch(
      /Microsoft 365 token request .* failed .*AADSTS7000215.*Check microsoft365\.tenantId, clientId and clientSecret/s,
    );
    expect(result.out).not.toContain('wrong-secret-value');
  });
});
