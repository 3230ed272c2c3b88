/**
 * What every command is given: where to print, the environment, and how to build the
 * long-lived parts from the config. One place wires config → logger → store → adapters.
 */
import { hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { loadConfig, resolveConfigPath, type LoadedConfig } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import { buildDeps, type Deps } from '../deps.js';
import type { DirectorySource } from '../directory/port.js';
import { LdapDirectory } from '../directory/ldap.js';
import type { Transport } from '../mail/port.js';
import { transportFor } from '../mail/transports.js';
import { channelTransports } from '../channels/transports.js';
import { Renderer } from '../mail/render.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Redactor } from '../log/redact.js';
import { UsageError } from '../errors.js';
import { openStateStore, stateExists, stateLocation } from '../store/open.js';
import type { StateStore } from '../store/ports.js';

/** The options every command takes. */
export interface GlobalOptions {
  config?: string;
}

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * ADNOTIFY_FAKE_NOW=<ISO time> moves the clock (it then runs on from there): for tests and
 * for trying out schedules and reminders. Never set it in production.
 */
function clockFrom(env: NodeJS.ProcessEnv): Clock {
  const fake = env['ADNOTIFY_FAKE_NOW'];
  if (fake === undefined || fake === '') return systemClock;
  const at = Date.parse(fake);
  if (Number.isNaN(at))
    throw new UsageError(`ADNOTIFY_FAKE_NOW=${JSON.stringify(fake)} is not an ISO 8601 time`);
  const offset = at - Date.now();
  return { now: () => new Date(Date.now() + offset) };
}

export class Context {
  readonly #io: Io;
  #redactor = new Redactor([]);

  #clock: Clock | undefined;

  constructor(io: Io) {
    this.#io = io;
  }

  /** The system clock, or the one ADNOTIFY_FAKE_NOW sets. */
  get clock(): Clock {
    this.#clock ??= clockFrom(this.#io.env);
    return this.#clock;
  }

  /** Who runs the command: the user who ran sudo (SUDO_USER), else the OS user. */
  get user(): string {
    const sudo = this.#io.env['SUDO_USER'];
    if (sudo !== undefined && sudo !== '') return sudo;
    try {
      return userInfo().username;
    } catch {
      return this.#io.env['USER'] ?? this.#io.env['USERNAME'] ?? 'unknown';
    }
  }

  /** Prints a line on stdout (command output, not logs). */
  out(line = ''): void {
    this.#io.stdout.write(`${this.#redactor.text(line)}\n`);
  }

  /** Prints a line on stderr, with every known secret removed. */
  err(line: string): void {
    this.#io.stderr.write(`${this.#redactor.text(line)}\n`);
  }

  config(flag: string | undefined): LoadedConfig {
    const loaded = loadConfig(resolveConfigPath(flag, this.#io.env), this.#io.env);
    this.#redactor = new Redactor(loaded.secrets);
    return loaded;
  }

  logger(loaded: LoadedConfig): Logger {
    const { level, format, file } = loaded.config.logging;
    return createLogger({ level, format, file, secrets: loaded.secrets, stream: this.#io.stderr });
  }

  /** Where the state is, for people: the SQLite file, or the database URL without its password. */
  statePath(loaded: LoadedConfig): string {
    return stateLocation(loaded.config.state);
  }

  stateExists(loaded: LoadedConfig): boolean {
    return stateExists(loaded.config.state);
  }

  async openStore(loaded: LoadedConfig): Promise<StateStore> {
    return openStateStore(loaded.config.state);
  }

  /** This instance's name in the lease and in status: ha.instance, else hostname:pid. */
  instance(loaded: LoadedConfig): string {
    return loaded.config.ha.instance ?? `${hostname()}:${process.pid}`;
  }

  /** The deps of a cycle or a job, from the parts a command opened. */
  deps(
    loaded: LoadedConfig,
    parts: { log: Logger; store: StateStore; directory: DirectorySource },
    component: string,
  ): Deps {
    return buildDeps(
      { ...parts, config: loaded.config, clock: this.clock, renderer: this.renderer(loaded) },
      component,
    );
  }

  renderer(loaded: LoadedConfig): Renderer {
    return Renderer.load(loaded.config.delivery.templatesDir);
  }

  /** Where .eml files go with delivery.dryRun: beside the state file. */
  emlDir(loaded: LoadedConfig): string {
    return join(dirname(resolve(loaded.config.state.path)), 'outbox-eml');
  }

  /**
   * .eml files (delivery.dryRun), Microsoft Graph (delivery.transport graph), or SMTP; with
   * `real`, the configured transport even in a dry run (test-email, check-config --connect).
   */
  transport(loaded: LoadedConfig, options: { real?: boolean } = {}): Transport {
    return transportFor(loaded.config, this.emlDir(loaded), options);
  }

  /** The chat, webhook and SIEM transports, by channel name (files beside the .eml in a dry run). */
  channels(loaded: LoadedConfig): Map<string, Transport> {
    return channelTransports(loaded.config, this.emlDir(loaded));
  }

  directory(loaded: LoadedConfig, log: Logger): LdapDirectory {
    const rangeSize = Number(this.#io.env['ADNOTIFY_MEMBER_RANGE_SIZE'] ?? '');
    return new LdapDirectory({
      config: loaded.config.directory,
      log: log.child({ component: 'ldap' }),
      ...(Number.isInteger(rangeSize) && rangeSize > 0 ? { memberRangeSize: rangeSize } : {}),
    });
  }
}
