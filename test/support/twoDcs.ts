/**
 * Two replicating Samba AD DCs of one domain (ACME.TEST) on loopback, DC1 on 127.0.0.2 and DC2
 * on 127.0.0.3, as TECH-NOTES.md ("Two replicating Samba AD DCs on one machine") verified:
 * each Samba process runs in a private mount namespace with a hosts file of its own bound over
 * /etc/hosts (the machine's stays untouched), a private KRB5_CONFIG names both DCs as KDCs,
 * every per-DC directory is private, and after the join the DRS service principals are
 * registered (samba_spnupdate) and each DC replicates from the other once. Needs root (mount
 * namespaces). About 20 s. Stopped by PID and by the files the DCs hold open.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  ADMIN_PASSWORD,
  issueCertificate,
  makeCa,
  stopEverySamba,
  waitUntilReady,
  type SambaInfo,
} from './samba.js';

const REALM = 'ACME.TEST';
const BASE_DN = 'DC=acme,DC=test';
const IPS = { 1: '127.0.0.2', 2: '127.0.0.3' } as const;

export type DcNumber = 1 | 2;

export interface TwoDcs {
  dc: Record<DcNumber, SambaInfo>;
  /** DC `n` sends its changes to no other DC until {@link resumeOutbound} (DISABLE_OUTBOUND_REPL). */
  pauseOutbound: (n: DcNumber) => void;
  resumeOutbound: (n: DcNumber) => void;
  /** DC `to` pulls what DC `from` has, now. */
  replicate: (to: DcNumber, from: DcNumber) => void;
  stop: () => Promise<void>;
}

/** Root and the tools: mount namespaces need root; samba-tool needs the system python. */
export function twoDcsPossible(): boolean {
  return (
    process.getuid?.() === 0 &&
    ['unshare', 'samba', 'samba-tool', 'ldbsearch', '/usr/sbin/samba_spnupdate'].every(
      (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
    )
  );
}

export async function startTwoDcs(dir: string): Promise<TwoDcs> {
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n${IPS[1]} dc1.acme.test dc1\n${IPS[2]} dc2.acme.test dc2\n`);
  const krb5 = join(dir, 'krb5.conf');
  writeFileSync(
    krb5,
    `[libdefaults]\n default_realm = ${REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n` +
      `[realms]\n ${REALM} = {\n  kdc = dc1.acme.test\n  kdc = dc2.acme.test\n }\n` +
      `[domain_realm]\n .acme.test = ${REALM}\n acme.test = ${REALM}\n`,
  );
  const env = { ...process.env, KRB5_CONFIG: krb5 };
  /** `cmd args` in a private mount namespace that sees `hosts` as /etc/hosts. */
  const inNamespace = (cmd: string, args: string[]): [string, string[]] => [
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$0" /etc/hosts && exec "$@"',
      hosts,
      cmd,
      ...args,
    ],
  ];
  const run = (cmd: string, args: string[]) => {
    const [c, a] = inNamespace(cmd, args);
    const result = spawnSync(c, a, { encoding: 'utf8', env });
    if (result.status !== 0) {
      throw new Error(
        `${cmd} ${args.slice(0, 3).join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`,
      );
    }
    return result.stdout;
  };
  const tls = join(dir, 'test-tls');
  mkdirSync(tls, { recursive: true });
  const { ca } = makeCa(tls, 'ca', 'adnotify two-DC test CA');
  const options = (n: DcNumber): string[] => {
    const d = join(dir, `dc${n}`);
    const { cert, key } = issueCertificate(tls, `dc${n}`, `DNS:dc${n}.acme.test,IP:${IPS[n]}`);
    return [
      `--option=interfaces=${IPS[n]}/8`,
      '--option=bind interfaces only=yes',
      '--option=server services=s3fs, rpc, ldap, cldap, kdc, drepl, winbindd, kcc',
      `--option=pid directory=${d}`,
      `--option=ncalrpc dir=${d}/ncalrpc`,
      `--option=winbindd socket directory=${d}/winbindd`,
      `--option=lock directory=${d}/lock`,
      `--option=state directory=${d}/state`,
      `--option=cache directory=${d}/cache`,
      `--option=log file=${d}/log`,
      '--option=dreplsrv:notify_interval=1',
      '--option=tls enabled=yes',
      `--option=tls keyfile=${key}`,
      `--option=tls certfile=${cert}`,
      `--option=tls cafile=${ca}`,
    ];
  };
  const info = (n: DcNumber): SambaInfo => ({
    url: `ldaps://${IPS[n]}:636`,
    plainUrl: `ldap://${IPS[n]}:389`,
    ip: IPS[n],
    caFile: ca,
    bindDN: `Administrator@${REALM.toLowerCase()}`,
    password: ADMIN_PASSWORD,
    baseDN: BASE_DN,
    realm: REALM,
    dir: join(dir, `dc${n}`),
    samLdb: join(dir, `dc${n}`, 'private', 'sam.ldb'),
    auditLog: join(dir, `dc${n}`, 'samba.out'),
    pid: 0,
  });
  const children: ChildProcess[] = [];
  const start = async (n: DcNumber): Promise<SambaInfo> => {
    const dc = info(n);
    const out = openSync(dc.auditLog, 'a');
    const [c, a] = inNamespace('samba', ['-i', '-M', 'single', '-s', join(dc.dir, 'etc', 'smb.conf')]);
    const child = spawn(c, a, { stdio: ['ignore', out, out], env });
    closeSync(out);
    children.push(child);
    await waitUntilReady(dc, child);
    return { ...dc, pid: child.pid ?? 0 };
  };
  const stop = async () => {
    for (const child of children) child.kill('SIGTERM');
    for (const n of [1, 2] as const) await stopEverySamba(join(dir, `dc${n}`));
  };
  try {
    mkdirSync(join(dir, 'dc1'));
    mkdirSync(join(dir, 'dc2'));
    run('samba-tool', [
      'domain',
      'provision',
      `--targetdir=${join(dir, 'dc1')}`,
      `--realm=${REALM}`,
      '--domain=ACME',
      '--server-role=dc',
      '--dns-backend=NONE',
      '--host-name=dc1',
      `--adminpass=${ADMIN_PASSWORD}`,
      ...options(1),
    ]);
    const dc1 = await start(1);
    run('samba-tool', [
      'domain',
      'join',
      'acme.test',
      'DC',
      '-U',
      'Administrator',
      `--password=${ADMIN_PASSWORD}`,
      '--server=dc1.acme.test',
      `--realm=${REALM}`,
      '--dns-backend=NONE',
      '--option=netbios name=DC2',
      `--targetdir=${join(dir, 'dc2')}`,
      ...options(2),
    ]);
    // Replication finds a DC by "<NTDS Settings objectGUID>._msdcs.<domain>".
    for (const n of [1, 2] as const) {
      const ntds = `CN=NTDS Settings,CN=DC${n},CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,${BASE_DN}`;
      const out = run('ldbsearch', ['-H', info(n).samLdb, '-b', ntds, '-s', 'base', 'objectGUID']);
      const guid = /objectGUID: (\S+)/.exec(out)?.[1];
      if (guid === undefined) throw new Error(`no objectGUID for ${ntds}`);
      appendFileSync(hosts, `${IPS[n]} ${guid}._msdcs.acme.test\n`);
    }
    const dc2 = await start(2);
    for (const n of [1, 2] as const) {
      run('/usr/bin/python3', ['/usr/sbin/samba_spnupdate', '-s', join(info(n).dir, 'etc', 'smb.conf')]);
    }
    const replicate = (to: DcNumber, from: DcNumber) => {
      // The first replication after a start may fail (WERR_NETNAME_DELETED): try again.
      for (let attempt = 1; ; attempt++) {
        try {
          run('samba-tool', [
            'drs',
            'replicate',
            `dc${to}.acme.test`,
            `dc${from}.acme.test`,
            BASE_DN,
            '-U',
            'Administrator',
            `--password=${ADMIN_PASSWORD}`,
          ]);
          return;
        } catch (err: unknown) {
          if (attempt >= 5) throw err;
          spawnSync('sleep', ['2']);
        }
      }
    };
    replicate(2, 1);
    replicate(1, 2);
    const dsaOption = (n: DcNumber, option: string) =>
      run('samba-tool', [
        'drs',
        'options',
        `dc${n}.acme.test`,
        `--dsa-option=${option}`,
        '-U',
        'Administrator',
        `--password=${ADMIN_PASSWORD}`,
      ]);
    return {
      dc: { 1: dc1, 2: dc2 },
      pauseOutbound: (n) => dsaOption(n, '+DISABLE_OUTBOUND_REPL'),
      resumeOutbound: (n) => dsaOption(n, '-DISABLE_OUTBOUND_REPL'),
      replicate,
      stop,
    };
  } catch (err: unknown) {
    await stop();
    throw err;
  }
}
