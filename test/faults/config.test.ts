/**
 * Bad configuration and credentials, through the built executable: every key of the shipped
 * example given a value of the wrong type, and the values an administrator gets wrong, each
 * exit 78 naming the key; a wrong password, an expired one, one that must be changed, a locked account, a certificate
 * for another name and one from an unknown CA each exit 77 with a message that says which.
 * No password used appears in any output.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';

import { sambaOrNull, tempDir, uniqueName, writeConfig } from '../support/cli.js';
import { LdapProxy } from '../support/ldapProxy.js';
import { backdatePassword, issueCertificate, makeCa } from '../support/samba.js';
import { DirectoryAdmin, PSO_DAY } from '../support/seed.js';
import { SmtpCapture } from '../support/smtpCapture.js';
import { expectNoSecrets, runBin, searchForSecrets } from './harness.js';
import { record } from './summary.js';

const samba = sambaOrNull();
const SMTP_PASSWORD = 'Smtp-Secret-4f9c2e';
const M365_SECRET = 'M365-Client-Secret-7d1a0b';
/** A Teams workflow URL: a secret, like the passwords. */
const TEAMS_URL = 'https://teams.example.com/workflows/abc/triggers/manual/paths/invoke?sig=T3AMS-K3Y';
const BIND_PASSWORD = 'Bind-Secret-7d1a9b!';
const WRONG_PASSWORD = 'Wrong-Secret-03be55!';

/** Every leaf of a YAML document: its path and its value. */
function leaves(doc: Document): { path: (string | number)[]; value: unknown }[] {
  const out: { path: (string | number)[]; value: unknown }[] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (isMap(node)) {
      for (const pair of node.items)
        walk(pair.value, [...path, String(isScalar(pair.key) ? pair.key.value : pair.key)]);
    } else if (isSeq(node)) {
      out.push({ path, value: node.toJSON() });
    } else {
      out.push({ path, value: isScalar(node) ? node.value : null });
    }
  };
  walk(doc.contents, []);
  return out;
}

/** A value of another type than `value`. */
function wrongType(value: unknown): unknown {
  if (typeof value === 'boolean') return 'sometimes';
  if (typeof value === 'number') return 'many';
  if (Array.isArray(value)) return 42;
  if (typeof value === 'string') return { nested: 1 };
  return 42; // null in the example: a string, a list or a mapping is expected
}

describe.skipIf(!samba)('fault: bad configuration and credentials', () => {
  if (!samba) return;
  let admin: DirectoryAdmin;
  const dir = tempDir('adnotify-config-');
  const env = {
    LDAP_PW: BIND_PASSWORD,
    ADNOTIFY_SMTP_PASSWORD: SMTP_PASSWORD,
    ADNOTIFY_M365_SECRET: M365_SECRET,
    TEAMS_URL: TEAMS_URL,
    HOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    // state.url of the example holds ${env:PGPASSWORD} (its backend is sqlite: not used).
    PGPASSWORD: 'pg-Ex4mple-pw',
  };
  const cleanup: string[] = [];

  beforeAll(async () => {
    admin = await DirectoryAdmin.connect(samba);
  });
  afterAll(async () => {
    for (const dn of cleanup.reverse()) await admin.delete(dn).catch(() => undefined);
    await admin.close();
    expectNoSecrets([
      samba.password,
      SMTP_PASSWORD,
      BIND_PASSWORD,
      WRONG_PASSWORD,
      M365_SECRET,
      'T3AMS-K3Y',
      'pg-Ex4mple-pw',
    ]);
  });

  /** The shipped example, made valid on this machine: secrets from the environment. */
  const example = () => {
    const doc = parseDocument(readFileSync('config/adnotify.example.yaml', 'utf8'));
    doc.setIn(['directory', 'bindPassword'], '${env:LDAP_PW}');
    doc.setIn(['directory', 'tls', 'caFile'], samba.caFile);
    doc.setIn(['state', 'path'], join(dir, 'state', 'adnotify.db'));
    return doc;
  };
  const check = async (doc: Document, name: string) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, doc.toString());
    return runBin(['--config', file, 'check-config'], env);
  };

  it('each key of the example with a value of the wrong type, and each value commonly got wrong: exit 78 naming the key', async () => {
    expect((await check(example(), 'valid')).code).toBe(0);
    const cases: { path: (string | number)[]; value: unknown }[] = [
      ...leaves(example()).map((l) => ({ path: l.path, value: wrongType(l.value) })),
      { path: ['version'], value: 2 },
      { path: ['directory', 'urls'], value: ['http://dc1.example.com'] },
      { path: ['directory', 'urls'], value: [] },
      { path: ['directory', 'pageSize'], value: 0 },
      { path: ['directory', 'timeoutSeconds'], value: -1 },
      { path: ['directory', 'actor', 'source'], value: 'someone' },
      { path: ['directory', 'tls', 'caFile'], value: join(dir, 'no-such-ca.pem') },
      { path: ['directory', 'bindPassword'], value: '${env:NO_SUCH_VARIABLE}' },
      { path: ['poll', 'schedule'], value: 'whenever' },
      { path: ['smtp', 'port'], value: 70_000 },
      { path: ['smtp', 'from'], value: 'not an address' },
      { path: ['smtp', 'to'], value: ['helpdesk'] },
      { path: ['smtp', 'cc'], value: ['a@example.com, b@example.com'] },
      { path: ['notify', 'publicGroups'], value: '(objectClass=group' },
      { path: ['passwordExpiry', 'schedule'], value: '99 * * * *' },
      { path: ['passwordExpiry', 'daysBefore'], value: [-1] },
      { path: ['passwordExpiry', 'portalUrl'], value: 'javascript:alert(1)' },
      { path: ['lifecycle', 'schedule'], value: 'every tuesday' },
      { path: ['lifecycle', 'membership', 'daysBeforeLeave'], value: -2 },
      { path: ['delivery', 'maxAttempts'], value: 0 },
      { path: ['delivery', 'maxMessagesPerCycle'], value: 0 },
      { path: ['delivery', 'templatesDir'], value: join(dir, 'no-such-dir') },
      { path: ['logging', 'level'], value: 'loud' },
      { path: ['logging', 'format'], value: 'xml' },
      { path: ['http', 'listen'], value: 'everywhere' },
      { path: ['unknownKey'], value: true },
      { path: ['smtp', 'hots'], value: 'smtp.example.com' },
      { path: ['channels', 0, 'url'], value: 'http://teams.example.com/workflows/T3AMS-K3Y' },
      { path: ['channels', 0, 'type'], value: 'discord' },
      { path: ['channels', 1, 'secret'], value: null },
      { path: ['channels', 1, 'name'], value: 'mail' },
      { path: ['channels', 1, 'name'], value: 'secops' },
      { path: ['channels', 0, 'events'], value: ['Object Modified'] },
      { path: ['siem', 'syslog'], value: 'tls://siem.example.com:6514' },
      { path: ['siem', 'caFile'], value: join(dir, 'no-such-siem-ca.pem') },
      { path: ['delivery', 'digest', 'schedule'], value: 'at seven' },
      { path: ['delivery', 'digest', 'roles'], value: ['boss'] },
    ];
    const failures: string[] = [];
    const queue = cases.map((c, i) => ({ ...c, i }));
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const doc = example();
        doc.setIn(c.path, c.value);
        const result = await check(doc, `case-${c.i}`);
        // As the error names it: "channels[0].url".
        const key = c.path
          .map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n > 0 ? '.' : ''}${p}`))
          .join('');
        const named = result.stderr.includes(key);
        if (result.code !== 78 || !named) {
          failures.push(
            `${key} = ${JSON.stringify(c.value)}: exit ${result.code}, ${result.stderr.trim() || '(no message)'}`,
          );
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    record({
      scenario: 'bad configuration',
      faults: `${cases.length} keys given a wrong type or value`,
      changes: cases.length,
      expected: cases.length,
      delivered: cases.length - failures.length,
      duplicated: 0,
      lost: failures.length,
    });
    expect(failures).toEqual([]);
  });

  it('wrong password, expired password, password to change at next logon, locked account, wrong certificate name, unknown CA: exit 77, each said', async () => {
    const ou = await admin.ou(uniqueName('creds'));
    cleanup.push(ou);
    const account = async (name: string) => {
      const dn = await admin.user(ou, name, {}, { password: BIND_PASSWORD });
      cleanup.push(dn);
      return dn;
    };
    const psoFor = async (dn: string, settings: Record<string, string>) => {
      cleanup.unshift(await admin.passwordSettings([dn], settings)); // removed last, after the accounts
    };
    // A certificate from the right CA, for a name that is not the one adnotify connects to.
    issueCertificate(join(samba.dir, 'test-tls'), 'other-name', 'DNS:dc9.example.test');
    const proxy = await LdapProxy.start(samba, 'other-name');
    const smtp = await SmtpCapture.start();
    const otherCa = makeCa(dir, 'other-ca', 'Some Other CA').ca;

    const good = await account('fault-good');
    // A password past its maximum age (AD's data 532): set ten days ago, under a policy of
    // two days. And one that must be changed at next logon (pwdLastSet = 0, data 773).
    const expired = await account('fault-expired');
    backdatePassword(samba, expired, 10);
    await psoFor(expired, { 'msDS-MaximumPasswordAge': String(-2 * PSO_DAY) });
    const mustChange = await account('fault-mustchg');
    await admin.modify(mustChange, 'replace', 'pwdLastSet', ['0']);
    const locked = await account('fault-locked');
    await psoFor(locked, { 'msDS-LockoutThreshold': '2' });
    await new Promise((r) => setTimeout(r, 2_000));

    const connect = async (
      name: string,
      bindDN: string,
      password: string,
      options: { urls?: string[]; caFile?: string } = {},
    ) => {
      const cdir = join(dir, name);
      mkdirSync(cdir, { recursive: true });
      const logFile = join(cdir, 'adnotify.log');
      searchForSecrets(logFile);
      const file = writeConfig(cdir, samba, { baseDN: ou, bindDN, smtpPort: smtp.port, logFile, ...options });
      return runBin(['--config', file, 'check-config', '--connect'], { TEST_BIND_PASSWORD: password });
    };
    // Two wrong passwords lock the account out; then even the right one is refused.
    for (let i = 0; i < 2; i++) expect((await connect(`lock${i}`, locked, WRONG_PASSWORD)).code).toBe(77);

    const cases: {
      name: string;
      run: () => Promise<{ code: number | null; stderr: string; stdout: string }>;
      says: RegExp;
    }[] = [
      { name: 'the right credentials', run: () => connect('good', good, BIND_PASSWORD), says: /./ },
      {
        name: 'a wrong password',
        run: () => connect('wrong', good, WRONG_PASSWORD),
        says: /the password is wrong/,
      },
      {
        name: 'an expired password',
        run: () => connect('expired', expired, BIND_PASSWORD),
        says: /the password of the bind account has expired/,
      },
      {
        name: 'a password that must be changed',
        run: () => connect('mustchg', mustChange, BIND_PASSWORD),
        says: /must change its password/,
      },
      { name: 'a locked account', run: () => connect('locked', locked, BIND_PASSWORD), says: /locked out/ },
      {
        name: 'a certificate for another name',
        run: () => connect('name', good, BIND_PASSWORD, { urls: [proxy.url] }),
        says: /TLS certificate verification failed \(ERR_TLS_CERT_ALTNAME_INVALID/,
      },
      {
        name: 'a certificate from an unknown CA',
        run: () => connect('ca', good, BIND_PASSWORD, { caFile: otherCa }),
        says: /TLS certificate verification failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)/,
      },
    ];
    const failures: string[] = [];
    for (const c of cases) {
      const result = await c.run();
      const want = c.name === 'the right credentials' ? 0 : 77;
      if (result.code !== want || !c.says.test(result.stderr + result.stdout)) {
        failures.push(`${c.name}: exit ${result.code}, ${result.stderr.trim()}`);
      }
    }
    await proxy.stop();
    await smtp.stop();
    record({
      scenario: 'bad credentials and TLS',
      faults: 'wrong, expired and must-change password, lockout, TLS name, unknown CA',
      changes: cases.length - 1,
      expected: cases.length,
      delivered: cases.length - failures.length,
      duplicated: 0,
      lost: failures.length,
    });
    expect(failures).toEqual([]);
  });
});
