/**
 * A throwaway Samba AD DC on a loopback address of its own (127.x.y.z), with a test CA
 * whose server certificate names that address, so tests verify TLS as users will.
 * Used by the vitest global setup and by `npm run demo`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
  chmodSync,
  mkdirSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from 'ldapts';

export interface SambaInfo {
  /** ldaps://IP:636 */
  url: string;
  /** ldap://IP:389 (StartTLS) */
  plainUrl: string;
  ip: string;
  caFile: string;
  bindDN: string;
  password: string;
  baseDN: string;
  realm: string;
  dir: string;
  samLdb: string;
  /**
   * Where the DC writes its JSON audit records (dsdb_json_audit, dsdb_group_json_audit), with
   * its other output: the file a directory.actor samba-audit source follows.
   */
  auditLog: string;
  pid: number;
}

export const ADMIN_PASSWORD = 'Passw0rd!Test';
const REALM = 'EXAMPLE.TEST';
const BASE_DN = 'DC=example,DC=test';

export function sambaInstalled(): boolean {
  return ['samba', 'samba-tool', 'ldbadd', 'ldbmodify', 'openssl'].every(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
  );
}

/** A random address in 127.0.0.0/8, so concurrent runs (tests and demo) never collide. */
export function randomLoopback(): string {
  const octet = () => 1 + Math.floor(Math.random() * 250);
  return `127.${octet()}.${octet()}.${octet()}`;
}

function run(cmd: string, args: string[], options: { cwd?: string; input?: string } = {}): string {
  const result = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${cmd} ${args.slice(0, 3).join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

function makeCertificates(dir: string, ip: string): { ca: string; cert: string; key: string } {
  const tls = join(dir, 'test-tls');
  mkdirSync(tls, { recursive: true });
  const { ca } = makeCa(tls, 'ca', 'adnotify test CA');
  const { cert, key } = issueCertificate(tls, 'server', `DNS:localhost,IP:127.0.0.1,IP:${ip}`);
  return { ca, cert, key };
}

/** A self-signed CA in `tls`: writes <name>.pem and <name>.key there. */
export function makeCa(tls: string, name: string, commonName: string): { ca: string; key: string } {
  const ca = join(tls, `${name}.pem`);
  const key = join(tls, `${name}.key`);
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    ca,
    '-days',
    '3',
    '-subj',
    `/CN=${commonName}`,
  ]);
  return { ca, key };
}

/**
 * A server certificate signed by the test CA in `tls` (ca.pem, ca.key), for the names in
 * `subjectAltName` ("DNS:a,IP:b"): writes <name>.key and <name>.pem there.
 */
export function issueCertificate(
  tls: string,
  name: string,
  subjectAltName: string,
): { cert: string; key: string } {
  const key = join(tls, `${name}.key`);
  const csr = join(tls, `${name}.csr`);
  const cert = join(tls, `${name}.pem`);
  const ext = join(tls, `${name}.ext`);
  run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${name}`,
  ]);
  writeFileSync(
    ext,
    `subjectAltName=${subjectAltName}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(tls, 'ca.pem'),
    '-CAkey',
    join(tls, 'ca.key'),
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '3',
    '-extfile',
    ext,
  ]);
  chmodSync(key, 0o600);
  return { cert, key };
}

/**
 * Adds msExchCoManagedByLink to the schema and to groups (TECH-NOTES.md), and the LAPS
 * password attributes (legacy ms-Mcs-AdmPwd and Windows LAPS msLAPS-Password, with their
 * real OIDs) to users: Samba has no LAPS schema, and the tests need a secret a directory
 * really stores in a readable attribute.
 */
function extendSchema(samLdb: string): void {
  const schema = `CN=Schema,CN=Configuration,${BASE_DN}`;
  const option = '--option=dsdb:schema update allowed=true';
  const unicodeString = (cn: string, name: string, oid: string) => `dn: CN=${cn},${schema}
objectClass: top
objectClass: attributeSchema
cn: ${cn}
lDAPDisplayName: ${name}
attributeID: ${oid}
attributeSyntax: 2.5.5.12
oMSyntax: 64
isSingleValued: TRUE
`;
  run('ldbadd', ['-H', samLdb, option], {
    input: [
      unicodeString(
        'ms-Mcs-AdmPwd',
        'ms-Mcs-AdmPwd',
        '1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2.1',
      ),
      unicodeString('ms-LAPS-Password', 'msLAPS-Password', '1.2.840.113556.1.6.44.1.1'),
    ].join('\n'),
  });
  run('ldbadd', ['-H', samLdb, option], {
    input: `dn: CN=ms-Exch-Co-Managed-By-Link,${schema}
objectClass: top
objectClass: attributeSchema
cn: ms-Exch-Co-Managed-By-Link
lDAPDisplayName: msExchCoManagedByLink
attributeID: 1.2.840.113556.1.4.7000.102.50758
attributeSyntax: 2.5.5.1
oMSyntax: 127
oMObjectClass:: KwwCh3McAIVK
isSingleValued: FALSE
linkID: 1.2.840.113556.1.2.50
`,
  });
  run('ldbmodify', ['-H', samLdb, option], {
    input: `dn: CN=Group,${schema}
changetype: modify
add: mayContain
mayContain: msExchCoManagedByLink

dn: CN=User,${schema}
changetype: modify
add: mayContain
mayContain: ms-Mcs-AdmPwd
mayContain: msLAPS-Password

dn:
changetype: modify
add: schemaUpdateNow
schemaUpdateNow: 1
`,
  });
}

/**
 * Sets `pwdLastSet` of `dn` to `daysAgo` days back, so that a password can really be past its
 * maximum age (AD's bind failure "data 532"). Over LDAP, and even through the local sam.ldb,
 * Samba's password_hash module accepts only 0 or -1 for pwdLastSet; the value is written into
 * the domain partition's own file, below that module, while the DC runs (it reads the record
 * afresh at the next bind). Test beds only.
 */
export function backdatePassword(info: SambaInfo, dn: string, daysAgo: number): void {
  const partition = join(info.dir, 'private', 'sam.ldb.d', `${info.baseDN.toUpperCase()}.ldb`);
  // FILETIME: 100 ns ticks since 1601-01-01 UTC.
  const ticks = (BigInt(Date.now() - daysAgo * 86_400_000) + 11_644_473_600_000n) * 10_000n;
  run('ldbmodify', ['-H', partition], {
    input: `dn: ${dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: ${ticks}\n`,
  });
}

/**
 * Denies the domain's Administrator (the tests' bind account) reading any property of `dn`,
 * with an explicit deny ACE written through the local sam.ldb (samba-tool dsacl): the object
 * then matches no search filter, as when a bind account loses read access in real life.
 */
export function denyRead(info: SambaInfo, dn: string): void {
  const sid = /objectSid: (\S+)/.exec(
    run('ldbsearch', ['-H', info.samLdb, '(sAMAccountName=Administrator)', 'objectSid']),
  )?.[1];
  if (sid === undefined) throw new Error('the Administrator has no objectSid in sam.ldb');
  run('samba-tool', ['dsacl', 'set', '-H', info.samLdb, `--objectdn=${dn}`, `--sddl=(D;;RP;;;${sid})`]);
}

export interface StartedSamba {
  info: SambaInfo;
  stop(): Promise<void>;
}

/**
 * How the DC stores its directory: `tdb`, `samba-tool domain provision`'s default, or `mdb`
 * (LMDB), the one Samba recommends for large directories. Only on `mdb` can Samba answer a
 * `uSNChanged>=` range from its index (ldb_kv_index_dn_ordered needs the key-value store's
 * `iterate_range`, which only LMDB has); on tdb every such search reads the whole subtree.
 */
export type BackendStore = 'tdb' | 'mdb';

/** Provisions and starts a DC in `dir` (which must exist and be empty). About 10 s. */
export async function startSamba(
  dir: string,
  ip = randomLoopback(),
  backendStore: BackendStore = 'tdb',
): Promise<StartedSamba> {
  const certs = makeCertificates(dir, ip);
  run('samba-tool', [
    'domain',
    'provision',
    `--targetdir=${dir}`,
    `--realm=${REALM}`,
    '--domain=EXAMPLE',
    '--server-role=dc',
    '--dns-backend=NONE',
    '--host-name=dc1',
    `--adminpass=${ADMIN_PASSWORD}`,
    `--option=interfaces=${ip}/8`,
    '--option=bind interfaces only=yes',
    '--option=server services=ldap',
    `--option=log file=${join(dir, 'samba.log')}`,
    `--option=pid directory=${dir}`,
    `--backend-store=${backendStore}`,
  ]);
  const samLdb = join(dir, 'private', 'sam.ldb');
  extendSchema(samLdb);
  const conf = join(dir, 'etc', 'smb.conf');
  // The audit records say who made each change (TECH-NOTES, "audit records").
  const tlsLines = `\ttls enabled = yes\n\ttls keyfile = ${certs.key}\n\ttls certfile = ${certs.cert}\n\ttls cafile = ${certs.ca}\n\tlog level = 1 dsdb_json_audit:5 dsdb_group_json_audit:5\n`;
  writeFileSync(conf, readFileSync(conf, 'utf8').replace('[global]\n', `[global]\n${tlsLines}`));

  const info: SambaInfo = {
    url: `ldaps://${ip}:636`,
    plainUrl: `ldap://${ip}:389`,
    ip,
    caFile: certs.ca,
    bindDN: `Administrator@${REALM.toLowerCase()}`,
    password: ADMIN_PASSWORD,
    baseDN: BASE_DN,
    realm: REALM,
    dir,
    samLdb,
    auditLog: join(dir, 'samba.out'),
    pid: 0,
  };
  return launch(info);
}

/**
 * Stops every samba process serving the DC in `dir`, whoever started it (a scenario may have
 * restarted it): SIGTERM, SIGKILL after 10 s, and waits until none is left, so that nothing
 * outlives the tests or runs on in a deleted directory.
 */
export async function stopEverySamba(dir: string): Promise<void> {
  // Not by command line: samba rewrites its process title ("samba: root process"), which is
  // why `pkill -f <smb.conf>` once left a DC running after the tests. By the files it holds
  // open under `dir` (its log, its databases), which it cannot hide.
  const inside = `${dir}/`;
  const running = (): number[] => {
    const out: number[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const fds = readdirSync(`/proc/${pid}/fd`);
        if (fds.some((fd) => readlinkOr(`/proc/${pid}/fd/${fd}`).startsWith(inside))) out.push(Number(pid));
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
    return out;
  };
  const signal = (pids: number[], name: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name);
      } catch {
        // gone meanwhile
      }
    }
  };
  signal(running(), 'SIGTERM');
  for (const [limit, next] of [
    [10_000, 'SIGKILL'],
    [5_000, null],
  ] as const) {
    const deadline = Date.now() + limit;
    while (running().length > 0 && Date.now() < deadline) await sleep(100);
    const left = running();
    if (left.length === 0) return;
    if (next === null) throw new Error(`samba processes ${left.join(', ')} of ${dir} did not stop`);
    signal(left, next);
  }
}

function readlinkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/**
 * Samba's process model: `single` (one process, what the tests use: quick to start and stop)
 * or `prefork` (its default, what a DC runs). They differ where it matters to the benchmark:
 * with `single`, an open change-notification search makes every write wait about 200 ms on
 * tdb, which re-runs it as a full read of the subtree (measured: 5 modifies/s against 242
 * without one; with `prefork` 190 against 210), on LMDB about 15 % (334 against 391).
 */
export type ProcessModel = 'single' | 'prefork';

/**
 * Under `prefork`, how many worker processes serve LDAP (smb.conf `prefork children:ldap`;
 * Samba's default is `prefork children`, 4). With one, every LDAP write is served by the
 * process that holds a notification search, which re-runs it at once (see ProcessModel).
 */
export interface LaunchOptions {
  ldapWorkers?: number | undefined;
}

/** Starts a DC provisioned earlier by {@link startSamba} again, after it was stopped. */
export async function restartSamba(
  info: SambaInfo,
  model: ProcessModel = 'single',
  options: LaunchOptions = {},
): Promise<StartedSamba> {
  return launch(info, model, options);
}

async function launch(
  base: SambaInfo,
  model: ProcessModel = 'single',
  { ldapWorkers }: LaunchOptions = {},
): Promise<StartedSamba> {
  const conf = join(base.dir, 'etc', 'smb.conf');
  const out = openSync(join(base.dir, 'samba.out'), 'a');
  const workers = ldapWorkers === undefined ? [] : [`--option=prefork children:ldap=${ldapWorkers}`];
  const child: ChildProcess = spawn('samba', ['-i', '-M', model, '-s', conf, ...workers], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error('samba did not start');
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const killOnExit = () => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const info: SambaInfo = { ...base, pid };
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!killed) child.kill('SIGKILL');
    }
  };
  try {
    await waitUntilReady(info, child);
  } catch (err: unknown) {
    await stop();
    throw err;
  }
  return { info, stop };
}

/** Waits until the DC answers a bind over LDAPS (60 s at most), or fails when samba exits. */
export async function waitUntilReady(info: SambaInfo, child: ChildProcess): Promise<void> {
  const ca = readFileSync(info.caFile);
  const deadline = Date.now() + 60_000;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`samba exited with ${child.exitCode}; see ${join(info.dir, 'samba.out')}`);
    }
    const client = new Client({ url: info.url, connectTimeout: 2000, timeout: 5000, tlsOptions: { ca } });
    try {
      await client.bind(info.bindDN, info.password);
      await client.unbind();
      return;
    } catch (err: unknown) {
      last = err;
      await client.unbind().catch(() => undefined);
      await sleep(250);
    }
  }
  throw new Error(`samba did not answer on ${info.url} within 60 s: ${String(last)}`);
}
