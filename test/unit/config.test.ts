import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

import { configJsonSchemaText } from '../../src/config/jsonSchema.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/errors.js';

const EXAMPLE = 'config/adnotify.example.yaml';
const SPEC = '../shared/spec/adnotify.example.yaml';

const minimal = (extra = '') => `version: 1
directory:
  urls: ["ldaps://dc1.example.com"]
  bindDN: "CN=svc,DC=example,DC=com"
  bindPassword: "S3cret!pw"
  baseDN: "DC=example,DC=com"
smtp:
  host: smtp.example.com
  from: "n <n@example.com>"
${extra}`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  return [];
}

interface JsonSchemaNode {
  properties?: Record<string, JsonSchemaNode>;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
}

/** Every property path a JSON Schema describes, through anyOf/oneOf branches (e.g. nullable). */
function schemaKeyPaths(node: JsonSchemaNode, prefix = ''): string[] {
  const own = Object.entries(node.properties ?? {}).flatMap(([k, v]) => [
    `${prefix}${k}`,
    ...schemaKeyPaths(v, `${prefix}${k}.`),
  ]);
  const branches = [...(node.anyOf ?? []), ...(node.oneOf ?? [])].flatMap((b) => schemaKeyPaths(b, prefix));
  return [...new Set([...own, ...branches])];
}

/** Every key path in a YAML mapping, e.g. "smtp.tls.caFile". */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)]);
}

describe('config file', () => {
  it('the shipped example is valid and resolves its secret references', () => {
    const dir = mkdtempSync(join(tmpdir(), 'adnotify-config-'));
    const text = readFileSync(EXAMPLE, 'utf8').replace(
      '/run/credentials/adnotify.service/ldap-password',
      join(dir, 'pw'),
    );
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    const loaded = parseConfigText(text, EXAMPLE, {
      ADNOTIFY_SMTP_PASSWORD: 'from-env',
      ADNOTIFY_M365_SECRET: 'client-secret',
      TEAMS_URL: 'https://teams.example.com/workflows/abc?sig=teams-key-123',
      HOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      PGPASSWORD: 'pg-pass%word',
    });
    expect(loaded.config.directory.bindPassword).toBe('from-file');
    expect(loaded.config.smtp.auth?.pass).toBe('from-env');
    expect(loaded.config.channels[0]?.url).toBe('https://teams.example.com/workflows/abc?sig=teams-key-123');
    // Every channel URL and signing secret is redacted, with the URL's path and query on their own.
    expect(loaded.secrets).toEqual([
      'from-file',
      'from-env',
      'client-secret',
      'postgres://adnotify:pg-pass%25word@db1.example.com:5432/adnotify?sslmode=verify-full',
      'pg-pass%25word',
      'pg-pass%word',
      'https://teams.example.com/workflows/abc?sig=teams-key-123',
      '/workflows/abc?sig=teams-key-123',
      'sig=teams-key-123',
      'https://hooks.example.com/adnotify',
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    ]);
  });

  it.skipIf(!existsSync(SPEC))('the shipped example holds at least every key of the contract', () => {
    const ours = new Set(keyPaths(parse(readFileSync(EXAMPLE, 'utf8'))));
    const spec = keyPaths(parse(readFileSync(SPEC, 'utf8')));
    expect(spec.filter((key) => !ours.has(key))).toEqual([]);
  });

  it('the shipped example documents every key the schema accepts', () => {
    const ours = new Set(keyPaths(parse(readFileSync(EXAMPLE, 'utf8'))));
    const schema = schemaKeyPaths(
      JSON.parse(readFileSync('config/adnotify.schema.json', 'utf8')) as JsonSchemaNode,
    );
    expect(schema.length).toBeGreaterThan(50);
    expect(schema.filter((key) => !ours.has(key))).toEqual([]);
  });

  it('config/adnotify.schema.json is what the zod schema generates (run npm run schema)', () => {
    expect(readFileSync('config/adnotify.schema.json', 'utf8')).toBe(configJsonSchemaText());
  });

  it('state on PostgreSQL: the URL is required, its password comes percent-encoded from the environment and is never shown', () => {
    expect(problems(minimal('state: { backend: postgres }\n'))).toEqual([
      expect.stringMatching(/^state\.url: state\.backend postgres needs the database: set state\.url/),
    ]);
    const url =
      'state: { backend: postgres, url: "postgres://adnotify:${env:PGPASSWORD}@db1:5432/adnotify" }\n';
    const loaded = parseConfigText(minimal(url), 'test.yaml', { PGPASSWORD: 'p@ss:w/rd' });
    expect(loaded.config.state.url).toBe('postgres://adnotify:p%40ss%3Aw%2Frd@db1:5432/adnotify');
    expect(loaded.secrets).toEqual(expect.arrayContaining(['p@ss:w/rd', 'p%40ss%3Aw%2Frd']));
    expect(problems(minimal(url))).toEqual([
      expect.stringContaining('environment variable PGPASSWORD is not set'),
    ]);
    const wrong = problems(minimal('state: { backend: postgres, url: "mysql://u:hunter2-pw@db1/x" }\n'));
    expect(wrong).toEqual([expect.stringMatching(/^state\.url: expected a postgres:\/\/ URL/)]);
    expect(wrong.join()).not.toContain('hunter2-pw');
    expect(problems(minimal('ha: { leaseSeconds: 1 }\n'))).toEqual([
      expect.stringMatching(/^ha\.leaseSeconds: /),
    ]);
  });

  it('channels and the SIEM: plain http, an unknown type, a webhook without its secret, a taken name and a bad syslog scheme are refused, naming the key', () => {
    const channels = (lines: string) => problems(minimal(`channels:\n${lines}`));
    expect(
      channels('  - { name: a, type: teams, url: "http://teams.example.com/hook/K3Y-t0ken" }\n'),
    ).toEqual([
      expect.stringMatching(
        /^channels\[0\]\.url: a http:\/\/ URL would send the channel's key and every change in clear text: use https:\/\//,
      ),
    ]);
    expect(channels('  - { name: a, type: discord, url: "https://x.example.com/h" }\n')).toEqual([
      expect.stringMatching(/^channels\[0\]\.type: .*teams.*slack.*webhook/),
    ]);
    expect(channels('  - { name: a, type: webhook, url: "https://x.example.com/h" }\n')).toEqual([
      expect.stringMatching(
        /^channels\[0\]\.secret: a webhook channel signs every request: set secret to "whsec_"/,
      ),
    ]);
    expect(
      channels('  - { name: a, type: webhook, url: "https://x.example.com/h", secret: "not-base64!" }\n'),
    ).toEqual([expect.stringMatching(/^channels\[0\]\.secret: expected "whsec_" followed by a base64 key/)]);
    expect(
      channels(
        '  - { name: mail, type: slack, url: "https://x.example.com/1" }\n  - { name: ops, type: slack, url: "https://x.example.com/2" }\n  - { name: ops, type: teams, url: "https://x.example.com/3" }\n',
      ),
    ).toEqual([
      expect.stringMatching(/^channels\[0\]\.name: "mail" is reserved for email/),
      expect.stringMatching(/^channels\[2\]\.name: "ops" names two channels/),
    ]);
    expect(channels('  - { name: Sec_Ops, type: slack, url: "https://x.example.com/1" }\n')).toEqual([
      expect.stringMatching(/^channels\[0\]\.name: expected lower-case letters, digits and "-"/),
    ]);
    expect(problems(minimal('siem:\n  syslog: "tls://siem.example.com:6514"\n'))).toEqual([
      expect.stringMatching(
        /^siem\.syslog: expected "tcp\+tls:\/\/host:port", "tcp:\/\/host:port" or "udp:\/\/host:port"/,
      ),
    ]);
    expect(problems(minimal('delivery:\n  digest: { schedule: "0 7 * * *", roles: [boss] }\n'))).toEqual([
      expect.stringMatching(/^delivery\.digest\.roles\[0\]: /),
    ]);
    // A URL is a secret: a problem never echoes it.
    expect(
      channels('  - { name: a, type: teams, url: "http://teams.example.com/hook/K3Y-t0ken" }\n').join(),
    ).not.toContain('K3Y');
  });

  it('a filter without its outer parentheses is a config error naming the key', () => {
    expect(problems(minimal().replace('  baseDN:', '  filter: "objectClass=user"\n  baseDN:'))).toEqual([
      expect.stringMatching(
        /^directory\.filter: directory\.filter must be enclosed in parentheses, e\.g\. "\(objectClass=user\)"/,
      ),
    ]);
    expect(problems(minimal('notify:\n  publicGroups: "objectClass=group"\n'))).toEqual([
      expect.stringMatching(/^notify\.publicGroups: notify\.publicGroups must be enclosed in parentheses/),
    ]);
  });

  it('SMTP authentication over a connection that may be unencrypted or unverified needs allowInsecureAuth', () => {
    const auth = '  auth: { user: svc, pass: pw }\n';
    const smtp = (lines: string) =>
      minimal().replace('  from: "n <n@example.com>"\n', `  from: "n <n@example.com>"\n${lines}`);
    expect(problems(smtp(`${auth}  requireTls: false\n`))).toEqual([
      expect.stringMatching(
        /^smtp\.auth: the SMTP password would be sent over a connection that may not be encrypted \(requireTls: false\): .* set smtp\.allowInsecureAuth: true/,
      ),
    ]);
    expect(problems(smtp(`${auth}  tls: { rejectUnauthorized: false }\n`))).toEqual([
      expect.stringMatching(
        /^smtp\.auth: the SMTP password would be sent to a server whose certificate is not verified .* set smtp\.allowInsecureAuth: true/,
      ),
    ]);
    expect(problems(smtp(`${auth}  requireTls: false\n  allowInsecureAuth: true\n`))).toEqual([]);
    expect(problems(smtp(auth))).toEqual([]); // STARTTLS required, certificate verified
    expect(problems(smtp('  requireTls: false\n'))).toEqual([]); // no password to protect
  });

  it('applies the documented defaults', () => {
    const { config } = parseConfigText(minimal(), 'test.yaml', {});
    expect(config.smtp.port).toBe(587);
    expect(config.directory.pageSize).toBe(500);
    expect(config.directory.tls.rejectUnauthorized).toBe(true);
    expect(config.poll.schedule).toBe('60s');
    expect(config.state.path).toBe('state/adnotify.db');
    expect(config.notify).toMatchObject({ objectModified: false, ownerManager: true, loggedInUser: false });
    expect(config.passwordExpiry.daysBefore).toEqual([14, 7, 3, 1]);
    expect(config.delivery.maxMessagesPerCycle).toBe(1000);
    expect(config.logging).toEqual({ level: 'info', format: 'auto', file: null });
  });

  it('defaults the SMTP port to 465 with implicit TLS', () => {
    const { config } = parseConfigText(
      minimal().replace('host: smtp', 'secure: true\n  host: smtp'),
      't',
      {},
    );
    expect(config.smtp.port).toBe(465);
  });
});

describe('config errors name the key path, the line and the fix', () => {
  it.each([
    [
      'a wrong type',
      minimal().replace('from:', 'port: "abc"\n  from:'),
      /^smtp\.port: expected number, got "abc" \(line 9, column 9\)/,
    ],
    [
      'an out-of-range number',
      minimal().replace('from:', 'port: 70000\n  from:'),
      /^smtp\.port: .*65535.*got 70000/,
    ],
    [
      'a missing key',
      minimal().replace('  baseDN: "DC=example,DC=com"\n', ''),
      /^directory\.baseDN: required: expected string/,
    ],
    [
      'an unknown key',
      minimal('pol:\n  schedule: 5m\n'),
      /^pol: unknown key: check the spelling against config\/adnotify\.example\.yaml \(line 10/,
    ],
    [
      'a bad enum value',
      minimal('logging:\n  level: loud\n'),
      /^logging\.level: expected "error" or "warn" or "info" or "debug", got "loud"/,
    ],
    ['a bad duration', minimal('poll:\n  schedule: soon\n'), /^poll\.schedule: expected a duration/],
    [
      'a bad LDAP filter',
      minimal().replace('baseDN:', 'filter: "(objectClass=user"\n  baseDN:'),
      /^directory\.filter: .*not a valid LDAP filter/,
    ],
    [
      'a plain ldap:// URL',
      minimal().replace('ldaps://dc1', 'ldap://dc1'),
      /^directory\.urls\[0\]: ldap:\/\/ would send the bind password in clear text/,
    ],
    ['a wrong version', minimal().replace('version: 1', 'version: 2'), /^version: expected 1, got 2/],
    [
      'expiry reminders without a portal',
      minimal('passwordExpiry:\n  enabled: true\n'),
      /^passwordExpiry\.portalUrl: required when/,
    ],
  ])('%s', (_name, text, expected) => {
    expect(problems(text)[0]).toMatch(expected);
  });

  it('reports YAML syntax errors with line and column', () => {
    expect(problems('version: 1\ndirectory:\n  urls: [unclosed\n')[0]).toMatch(
      /^YAML syntax: .*\(line \d+, column \d+\)/,
    );
  });

  it('reports every problem, not only the first', () => {
    const found = problems(minimal().replace('from:', 'port: "x"\n  secure: "yes"\n  from:'));
    expect(found).toHaveLength(2);
  });

  it('never echoes a password given with the wrong type', () => {
    const found = problems(minimal().replace('"S3cret!pw"', '123456789'));
    expect(found[0]).toMatch(/^directory\.bindPassword: expected string, got \(value hidden\)/);
    expect(found.join('\n')).not.toContain('123456789');
  });

  it('never echoes a Microsoft 365 client secret given with the wrong type or shape', () => {
    const found = problems(
      `${minimal()}microsoft365: { tenantId: "11111111-1111-1111-1111-111111111111", clientId: "22222222-2222-2222-2222-222222222222", clientSecret: 987654321987 }\n`,
    );
    expect(found.join('\n')).toMatch(/microsoft365\.clientSecret: expected string, got \(value hidden\)/);
    expect(found.join('\n')).not.toContain('987654321987');
  });

  it('names a missing environment variable and an unreadable secret file', () => {
    const text = minimal()
      .replace('"S3cret!pw"', '"${env:NO_SUCH_VAR}"')
      .replace('from:', 'auth: { user: u, pass: "${file:/nonexistent/pw}" }\n  from:');
    const found = problems(text);
    expect(found).toContainEqual(
      expect.stringMatching(/^directory\.bindPassword: environment variable NO_SUCH_VAR is not set/),
    );
    expect(found).toContainEqual(
      expect.stringMatching(/^smtp\.auth\.pass: cannot read \/nonexistent\/pw \(ENOENT\)/),
    );
  });

  it('says how to point at a config file that does not exist', () => {
    expect(() => loadConfig('/nonexistent/adnotify.yaml')).toThrow(
      /file not found: pass --config PATH or set ADNOTIFY_CONFIG/,
    );
  });

  it('warns that loggedInUser does nothing without an actor source', () => {
    const { warnings } = parseConfigText(minimal('notify:\n  loggedInUser: true\n'), 't', {});
    expect(warnings.map(formatProblem)).toEqual([
      expect.stringMatching(/^notify\.loggedInUser: has no effect/),
    ]);
  });
});
