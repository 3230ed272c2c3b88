/**
 * A throwaway PostgreSQL cluster for the tests (TECH-NOTES.md): Debian's binaries, run as the
 * `postgres` user (initdb refuses root), on 127.0.0.1 and a free port, with password
 * authentication; stopped by its postmaster PID, also when a test fails. Without PostgreSQL
 * the tests that need it skip loudly, except under CI=true, where that fails the run.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

import { listenOnLoopback } from './net.js';

/** Debian's newest installed server (postgresql-common puts each major version here). */
const BIN = (existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql') : [])
  .filter((v) => /^\d+$/.test(v))
  .sort((a, b) => Number(b) - Number(a))
  .map((v) => join('/usr/lib/postgresql', v, 'bin'))
  .find((d) => existsSync(join(d, 'initdb')));
export const PG_PASSWORD = 'pg-test-secret-5b1e';

export function postgresInstalled(): boolean {
  return BIN !== undefined;
}

/** Says loudly that PostgreSQL is missing; under CI=true, fails instead. */
export function requirePostgres(): boolean {
  if (postgresInstalled()) return true;
  const message = 'PostgreSQL is not installed: apt-get install -y postgresql (.ci/run does this).';
  if (process.env['CI'] === 'true') throw new Error(`${message} CI=true: failing instead of skipping.`);
  process.stderr.write(
    `\n${'!'.repeat(78)}\n${message}\nSKIPPING the PostgreSQL tests.\n${'!'.repeat(78)}\n\n`,
  );
  return false;
}

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class PostgresServer {
  readonly port: number;
  readonly #dir: string;
  #next = 0;

  private constructor(dir: string, port: number) {
    this.#dir = dir;
    this.port = port;
  }

  static async start(): Promise<PostgresServer> {
    if (BIN === undefined) throw new Error('PostgreSQL is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'adnotify-pg-'));
    const asRoot = userInfo().uid === 0;
    const run = (cmd: string, args: string[]) =>
      execFileSync(
        asRoot ? 'runuser' : join(BIN, cmd),
        asRoot ? ['-u', 'postgres', '--', join(BIN, cmd), ...args] : args,
        {
          stdio: 'pipe',
        },
      );
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      chownSync(dir, uid, -1);
    }
    chmodSync(dir, 0o700);
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, PG_PASSWORD);
    if (asRoot) chownSync(pwfile, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), -1);
    run('initdb', ['-D', join(dir, 'data'), '-A', 'scram-sha-256', '-U', 'postgres', `--pwfile=${pwfile}`]);
    rmSync(pwfile);
    const port = await freePort();
    const server = new PostgresServer(dir, port);
    server.#run = run;
    server.startAgain();
    return server;
  }

  #run: (cmd: string, args: string[]) => Buffer = () => Buffer.alloc(0);

  /** Starts the (stopped) server again, on the same port and data. */
  startAgain(): void {
    this.#run('pg_ctl', [
      '-D',
      join(this.#dir, 'data'),
      '-o',
      `-k ${this.#dir} -h 127.0.0.1 -p ${this.port} -c fsync=off`,
      '-l',
      join(this.#dir, 'log'),
      '-w',
      'start',
    ]);
  }

  /** The postmaster's PID, while it runs. */
  pid(): number | null {
    const file = join(this.#dir, 'data', 'postmaster.pid');
    if (!existsSync(file)) return null;
    return Number(readFileSync(file, 'utf8').split('\n')[0]);
  }

  /** Stops the server (fast shutdown: clients are disconnected). */
  stop(): void {
    const pid = this.pid();
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      return;
    }
    for (let i = 0; i < 100 && this.pid() !== null; i++) execFileSync('sleep', ['0.1']);
  }

  url(database: string, password = PG_PASSWORD): string {
    return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${database}`;
  }

  /** A new empty database; returns its URL. */
  async database(): Promise<string> {
    const name = `t${process.pid}_${++this.#next}`;
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Stops the server and removes its files. */
  destroy(): void {
    this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * A PostgreSQL for the calling test file, started before its tests and stopped (by PID) and
 * removed after them; none when `wanted` is false (PostgreSQL or another server is missing).
 * Read `server` in tests and hooks only.
 */
export function postgresForFile(wanted: boolean): { readonly server: PostgresServer } {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    if (wanted) server = await PostgresServer.start();
  }, 60_000);
  afterAll(() => {
    server?.destroy();
  });
  return {
    get server(): PostgresServer {
      if (server === undefined) throw new Error('PostgreSQL was not started for this file');
      return server;
    },
  };
}
