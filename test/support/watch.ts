/**
 * A watched OU for an integration test: its own OU, config and state, baseline taken; each
 * cycle runs `adnotify once` in-process and returns the new events as history --json lists
 * them (without id, cycle and time).
 */
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { expect } from 'vitest';

import type { HistoryEvent } from '../../src/store/ports.js';
import { runCli, tempDir, uniqueName, writeConfig, type TestConfigOptions } from './cli.js';
import type { SambaInfo } from './samba.js';
import type { DirectoryAdmin } from './seed.js';

type Bare<E> = E extends unknown ? Omit<E, 'id' | 'cycle' | 'at'> : never;
export type Event = Bare<HistoryEvent>;

export function withoutBookkeeping(event: HistoryEvent): Event {
  const copy: Partial<HistoryEvent> = { ...event };
  delete copy.id;
  delete copy.cycle;
  delete copy.at;
  // history --json says "actor": null for every change nobody is known to have made.
  if (copy.actor === null) delete copy.actor;
  return copy as Event;
}

export interface WatchOptions extends Partial<Omit<TestConfigOptions, 'baseDN'>> {
  env?: NodeJS.ProcessEnv;
  /** Watch this base instead of the test's own OU (which is still made and seeded). */
  watchBase?: string;
}

/**
 * What every watched test OU starts with, in-process (Watch) or through the built executable
 * (the fault suite's Bed): its own OU, seeded, and a config for it in `dir`; the bind
 * password in the environment only.
 */
export async function prepareWatchedOu(
  admin: DirectoryAdmin,
  samba: SambaInfo,
  name: string,
  seed: (ou: string) => Promise<void>,
  dir: string,
  options: WatchOptions = {},
): Promise<{ ou: string; config: string; env: NodeJS.ProcessEnv }> {
  const ou = await admin.ou(uniqueName(name));
  await seed(ou);
  const { env, watchBase, ...config } = options;
  return {
    ou,
    config: writeConfig(dir, samba, { directoryExtra: '', ...config, baseDN: watchBase ?? ou }),
    env: { TEST_BIND_PASSWORD: samba.password, ...env },
  };
}

export class Watch {
  lastId = 0;
  readonly dir: string;
  config: string;
  env: NodeJS.ProcessEnv;

  private constructor(
    readonly ou: string,
    readonly samba: SambaInfo,
    dir: string,
    config: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.dir = dir;
    this.config = config;
    this.env = env;
  }

  static async start(
    admin: DirectoryAdmin,
    samba: SambaInfo,
    name: string,
    seed: (ou: string) => Promise<void> = () => Promise.resolve(),
    options: WatchOptions = {},
  ): Promise<Watch> {
    const dir = tempDir();
    const { ou, config, env } = await prepareWatchedOu(admin, samba, name, seed, dir, options);
    const watch = new Watch(ou, samba, dir, config, env);
    const baseline = await watch.once();
    expect(baseline.stdout).toMatch(/^baseline: /);
    return watch;
  }

  get db(): string {
    return join(this.dir, 'state', 'adnotify.db');
  }

  /** `adnotify once`, which must succeed without logging an error. */
  async once(): Promise<{ stdout: string; stderr: string }> {
    const result = await this.run('once');
    expect(result.stderr, result.stderr).not.toMatch(/"level":"error"/);
    expect(result.code, result.stderr).toBe(0);
    return result;
  }

  run(...args: string[]) {
    return runCli(['--config', this.config, ...args], this.env);
  }

  /** Runs one cycle; returns its summary line and the events it recorded. */
  async cycle(): Promise<{ stdout: string; events: Event[] }> {
    const { stdout } = await this.once();
    return { stdout, events: await this.newEvents() };
  }

  async newEvents(): Promise<Event[]> {
    const history = await this.run('history', '--since', '1h', '--json');
    expect(history.code, history.stderr).toBe(0);
    const all = JSON.parse(history.stdout) as HistoryEvent[];
    const fresh = all.filter((e) => e.id > this.lastId);
    this.lastId = Math.max(this.lastId, ...all.map((e) => e.id));
    return fresh.map(withoutBookkeeping);
  }

  async cursor(): Promise<bigint> {
    const result = await this.run('status', '--json');
    return BigInt((JSON.parse(result.stdout) as { directory: { usnCursor: string } }).directory.usnCursor);
  }

  query<T>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(this.db, { readonly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }
}
