/**
 * The fault suite's test bed: the built executable (`node <shebang flags> dist/bin.js`, as a
 * user runs it) against the suite's own Samba DC and an SMTP capture, with every byte it
 * prints kept, so that each scenario can prove no password appears in any output.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, expect } from 'vitest';

import { tempDir } from '../support/cli.js';
import { directoryAndMail, type DirectoryAndMail } from '../support/directoryAndMail.js';
import { startDaemon, type Running } from '../support/daemon.js';
import type { SambaInfo } from '../support/samba.js';
import type { DirectoryAdmin } from '../support/seed.js';
import type { SmtpCaptureOptions } from '../support/smtpCapture.js';
import { prepareWatchedOu, type WatchOptions } from '../support/watch.js';

/** The V8 flags of the executable's shebang (`#!/usr/bin/env -S node ...`). */
const NODE_FLAGS = (readFileSync('dist/bin.js', 'utf8').split('\n', 1)[0] ?? '')
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));

export interface BinResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every output of every process this file started, for {@link expectNoSecrets}. */
const outputs: (() => string)[] = [];
/** Files adnotify wrote (logs, state), searched by {@link expectNoSecrets} as well. */
const writtenFiles: string[] = [];

/** Adds `path` (and its rotations, -wal and -shm files) to what {@link expectNoSecrets} searches. */
export function searchForSecrets(path: string): void {
  writtenFiles.push(path);
}

/** The files in `dir` whose names start with the name of one of the searched `paths`. */
function existingFiles(paths: string[]): string[] {
  return paths.flatMap((path) => {
    const dir = dirname(path);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => name.startsWith(basename(path)))
      .map((name) => join(dir, name));
  });
}

/** Runs `adnotify ...args` to completion (killed after `timeoutMs`). */
export async function runBin(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<BinResult> {
  const child = spawn(process.execPath, [...NODE_FLAGS, 'dist/bin.js', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', resolve);
  });
  clearTimeout(timer);
  outputs.push(() => `${stdout}\n${stderr}`);
  return { code, stdout, stderr };
}

/** `adnotify run` from the built executable; its output is kept for the secrets check. */
export function runDaemon(config: string, env: NodeJS.ProcessEnv): Running {
  const running = startDaemon(config, env, { built: true, nodeFlags: NODE_FLAGS });
  outputs.push(running.output);
  return running;
}

/** Fails if any output so far (or any of `files`) contains one of `secrets`. */
export function expectNoSecrets(secrets: string[], files: string[] = []): number {
  const missing = writtenFiles.filter((f) => !existsSync(f));
  expect(missing, 'files adnotify should have written, to be searched').toEqual([]);
  const texts = [
    ...outputs.map((o) => o()),
    ...[...files, ...existingFiles(writtenFiles)].map((f) => readFileSync(f, 'latin1')),
  ];
  for (const secret of secrets) {
    const leaks = texts.filter((t) => t.includes(secret));
    expect(leaks, `a secret appears in ${leaks.length} output(s)`).toEqual([]);
  }
  return texts.length;
}

/**
 * The directory administrator and SMTP capture a scenario file shares: opened before its
 * tests, closed after them, when every output is searched for the administrator's password.
 * Call it inside `describe`; read the fields in tests and hooks only.
 */
export function directoryAndSmtp(samba: SambaInfo, smtpOptions: SmtpCaptureOptions = {}): DirectoryAndMail {
  const shared = directoryAndMail(samba, smtpOptions);
  afterAll(() => {
    expectNoSecrets([samba.password]);
  });
  return shared;
}

export type BedOptions = Omit<WatchOptions, 'watchBase'>;

/** A watched OU of its own with config and state; the baseline is taken by the executable. */
export class Bed {
  readonly dir = tempDir('adnotify-fault-');
  config = '';
  env: NodeJS.ProcessEnv = {};
  ou = '';

  private constructor(readonly samba: SambaInfo) {}

  static async create(
    admin: DirectoryAdmin,
    samba: SambaInfo,
    name: string,
    seed: (ou: string) => Promise<void>,
    options: BedOptions = {},
  ): Promise<Bed> {
    const bed = new Bed(samba);
    Object.assign(
      bed,
      await prepareWatchedOu(admin, samba, name, seed, bed.dir, { logFile: bed.log, ...options }),
    );
    searchForSecrets(bed.log);
    // On PostgreSQL (state.backend in stateExtra) there is no state file to search.
    if (!(options.stateExtra ?? '').includes('postgres')) searchForSecrets(bed.db);
    const baseline = await bed.run('once');
    expect(baseline.code, baseline.stderr).toBe(0);
    expect(baseline.stdout).toMatch(/^baseline: /);
    return bed;
  }

  /** logging.file: JSON lines at debug level, searched for secrets with every output. */
  get log(): string {
    return join(this.dir, 'adnotify.log');
  }

  get db(): string {
    return join(this.dir, 'state', 'adnotify.db');
  }

  run(...args: string[]): Promise<BinResult> {
    return runBin(['--config', this.config, ...args], this.env);
  }

  daemon(): Running {
    return runDaemon(this.config, this.env);
  }
}

/** The moments of a daemon's work a fault scenario kills it at. */
export const PHASES = ['search', 'commit', 'delivery', 'random'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Waits (among the log lines from `from` on) for `phase` of `daemon`'s work, with a little
 * jitter: in the middle of a search (its transaction open), right after a cycle committed,
 * during delivery, or at a random time; then SIGKILLs it and resolves once it has died.
 * Returns when the kill was sent.
 */
export async function killAt(daemon: Running, phase: Phase, from: number): Promise<number> {
  const jitter = (ms: number) => sleep(Math.floor(Math.random() * ms));
  if (phase === 'search') {
    await daemon.waitFor(
      (l) => l['message'] === 'read page' && Number(l['entries']) > 0,
      'a page of changes',
      20_000,
      from,
    );
    await jitter(20);
  } else if (phase === 'commit') {
    await daemon.waitFor((l) => l['message'] === 'cycle done', 'a cycle committed', 20_000, from);
  } else if (phase === 'delivery') {
    await daemon.waitFor((l) => l['message'] === 'message sent', 'a message sent', 20_000, from);
    await jitter(100);
  } else {
    await jitter(2_500);
  }
  daemon.child.kill('SIGKILL');
  const at = Date.now();
  expect((await daemon.exited).signal).toBe('SIGKILL');
  return at;
}
