import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { LdapServerMock } from 'ldap-server-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli, sambaOrNull, tempDir, uniqueName, writeConfig, type CliResult } from '../support/cli.js';
import { DirectoryAdmin } from '../support/seed.js';
import { SmtpCapture } from '../support/smtpCapture.js';

const samba = sambaOrNull();
const WRONG_PASSWORD = 'Wr0ng-Pa55word-XYZZY';

/** Every byte the command printed, logs included. */
const everything = (r: CliResult) => r.stdout + r.stderr;

describe.skipIf(!samba)('connecting to the directory: each failure names its step and exit code', () => {
  if (!samba) return;
  let ou: string;
  const env = { TEST_BIND_PASSWORD: samba.password };

  beforeAll(async () => {
    const admin = await DirectoryAdmin.connect(samba);
    ou = await admin.ou(uniqueName('connect'));
    await admin.close();
  });

  it('check-config --connect binds over LDAPS with the CA and reads rootDSE and invocationId', async () => {
    const smtp = await SmtpCapture.start();
    try {
      const cfg = writeConfig(tempDir(), samba, { baseDN: ou, smtpPort: smtp.port });
      const result = await runCli(['-c', cfg, 'check-config', '--connect'], env);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^ldap: connected and bound to ldaps:/m);
      expect(result.stdout).toMatch(
        /^ldap: rootDSE read: CN=NTDS Settings,CN=DC1,.* \(invocationId [0-9a-f-]{36}, highestCommittedUSN \d+\)$/m,
      );
      expect(result.stdout).toMatch(/^smtp: 127\.0\.0\.1:\d+ accepted the connection$/m);
    } finally {
      await smtp.stop();
    }
  });

  it('a wrong password exits 77 naming the bind step, and the password appears nowhere', async () => {
    const config = writeConfig(tempDir(), samba, { baseDN: ou });
    for (const command of [['check-config', '--connect'], ['once']]) {
      const result = await runCli(['-c', config, ...command], { TEST_BIND_PASSWORD: WRONG_PASSWORD });
      expect(result.code).toBe(77);
      expect(result.stderr).toMatch(/bind refused: .*Check directory\.bindDN and directory\.bindPassword/);
      expect(everything(result)).not.toContain(WRONG_PASSWORD);
      expect(everything(result)).not.toContain(samba.password);
    }
  });

  it('an untrusted certificate exits 77 naming TLS verification', async () => {
    const config = writeConfig(tempDir(), samba, { baseDN: ou, caFile: null });
    const result = await runCli(['-c', config, 'check-config', '--connect'], env);
    expect(result.code).toBe(77);
    expect(result.stderr).toMatch(/TLS certificate verification failed .*directory\.tls\.caFile/);
  });

  it('an unreachable DC exits 69; the next URL in the list is tried', async () => {
    const dead = 'ldaps://127.0.0.1:1';
    const alone = writeConfig(tempDir(), samba, { baseDN: ou, urls: [dead] });
    const failed = await runCli(['-c', alone, 'check-config', '--connect'], env);
    expect(failed.code).toBe(69);
    expect(failed.stderr).toMatch(
      /ldaps:\/\/127\.0\.0\.1:1: cannot reach the directory during connect \(ECONNREFUSED/,
    );

    const failover = writeConfig(tempDir(), samba, { baseDN: ou, urls: [dead, samba.url] });
    const ok = await runCli(['-c', failover, 'check-config', '--connect'], env);
    expect(ok.stdout).toMatch(
      new RegExp(`^ldap: connected and bound to ${samba.url.replace(/\./g, '\\.')}`, 'm'),
    );
    expect(ok.stderr).toMatch(/directory unreachable, trying the next URL/);
  });

  it('StartTLS on ldap://:389 verifies the certificate and binds', async () => {
    const config = writeConfig(tempDir(), samba, {
      baseDN: ou,
      urls: [samba.plainUrl],
      directoryExtra: '  startTls: true',
    });
    const once = await runCli(['-c', config, 'once'], env);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/^baseline: /m);
  });

  it('plain ldap:// without StartTLS is refused before any password is sent', async () => {
    const config = writeConfig(tempDir(), samba, { baseDN: ou, urls: [samba.plainUrl] });
    const result = await runCli(['-c', config, 'check-config'], env);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(
      /directory\.urls\[0\]: ldap:\/\/ would send the bind password in clear text/,
    );
  });

  it('with allowInsecure, a DC that demands encryption is reported as such (exit 77)', async () => {
    const config = writeConfig(tempDir(), samba, {
      baseDN: ou,
      urls: [samba.plainUrl],
      directoryExtra: '  allowInsecure: true',
    });
    const result = await runCli(['-c', config, 'check-config', '--connect'], env);
    expect(result.code).toBe(77);
    expect(result.stderr).toMatch(/requires an encrypted connection/);
  });
});

describe.skipIf(!samba)('a server that is not Active Directory (ldap-server-mock)', () => {
  if (!samba) return;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const tlsDir = join(samba.dir, 'test-tls');
  let server: LdapServerMock;

  beforeAll(async () => {
    server = new LdapServerMock(
      [{ dn: 'cn=user,dc=test', attributes: { objectClass: 'person', cn: 'user' } }],
      { port, searchBase: 'dc=test' },
      readFileSync(join(tlsDir, 'server.pem')),
      readFileSync(join(tlsDir, 'server.key')),
      { info: () => undefined },
    );
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  it('fails with a clear message: no highestCommittedUSN in the rootDSE (exit 69)', async () => {
    const dir = tempDir();
    // ldap-server-mock answers every bind, but only for a DN (a UPN is a syntax error to it).
    const config = writeConfig(dir, samba, {
      baseDN: 'dc=test',
      bindDN: 'cn=user,dc=test',
      urls: [`ldaps://127.0.0.1:${port}`],
    });
    const check = await runCli(['-c', config, 'check-config', '--connect'], {
      TEST_BIND_PASSWORD: 'anything',
    });
    expect(check.code).toBe(69);
    expect(check.stderr).toMatch(
      /is not an Active Directory domain controller: its rootDSE has no highestCommittedUSN/,
    );
    const once = await runCli(['-c', config, 'once'], { TEST_BIND_PASSWORD: 'anything' });
    expect(once.code).toBe(69);
    const status = await runCli(['-c', config, 'status'], { TEST_BIND_PASSWORD: 'anything' });
    expect(status.stdout).toMatch(
      /^last cycle:\s+\S+ baseline failed .*not an Active Directory domain controller/m,
    );
  });
});

describe.skipIf(!samba)('check-config --connect checks SMTP with STARTTLS and AUTH', () => {
  if (!samba) return;
  const tlsDir = join(samba.dir, 'test-tls');
  const tls = {
    key: readFileSync(join(tlsDir, 'server.key')),
    cert: readFileSync(join(tlsDir, 'server.pem')),
  };
  const SMTP_PASSWORD = 'smtp-S3cret-pw';
  let smtp: SmtpCapture;
  let ou: string;

  beforeAll(async () => {
    smtp = await SmtpCapture.start({ tls, auth: { user: 'svc', pass: SMTP_PASSWORD } });
    const admin = await DirectoryAdmin.connect(samba);
    ou = await admin.ou(uniqueName('smtp'));
    await admin.close();
  });

  afterAll(async () => {
    await smtp.stop();
  });

  function configWith(smtpBlock: string): string {
    const dir = tempDir();
    const file = writeConfig(dir, samba!, { baseDN: ou });
    const text = readFileSync(file, 'utf8').replace(/smtp:\n(?: {2}.*\n)+/, smtpBlock);
    writeFileSync(file, text);
    return file;
  }

  const block = (extra: string) => `smtp:
  host: 127.0.0.1
  port: ${smtp.port}
  requireTls: true
  tls:
    caFile: ${JSON.stringify(join(tlsDir, 'ca.pem'))}
  auth:
    user: svc
    pass: "\${env:TEST_SMTP_PASSWORD}"
  from: "adnotify <adnotify@example.test>"
${extra}`;

  it('succeeds with the right CA and credentials', async () => {
    const result = await runCli(['-c', configWith(block('')), 'check-config', '--connect'], {
      TEST_BIND_PASSWORD: samba.password,
      TEST_SMTP_PASSWORD: SMTP_PASSWORD,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^smtp: 127\.0\.0\.1:\d+ accepted the connection and the credentials$/m);
  });

  it('a wrong SMTP password exits 77 and is never printed', async () => {
    const result = await runCli(['-c', configWith(block('')), 'check-config', '--connect'], {
      TEST_BIND_PASSWORD: samba.password,
      TEST_SMTP_PASSWORD: 'not-the-password-42',
    });
    expect(result.code).toBe(77);
    expect(result.stderr).toMatch(/SMTP authentication failed/);
    expect(everything(result)).not.toContain('not-the-password-42');
  });

  it('an SMTP certificate from an unknown CA exits 77', async () => {
    const text = block('').replace(/ {2}tls:\n {4}caFile: .*\n/, '');
    const result = await runCli(['-c', configWith(text), 'check-config', '--connect'], {
      TEST_BIND_PASSWORD: samba.password,
      TEST_SMTP_PASSWORD: SMTP_PASSWORD,
    });
    expect(result.code).toBe(77);
    expect(result.stderr).toMatch(/TLS certificate verification failed/);
  });
});
