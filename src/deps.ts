/**
 * What the poll cycle, the notifications and the jobs are given: the one bag of long-lived
 * parts, built in one place. Each consumer declares the parts it uses (`Pick<Deps, ...>`).
 */
import type { Config } from './config/schema.js';
import type { Clock } from './core/clock.js';
import type { DirectorySource } from './directory/port.js';
import type { Logger } from './log/logger.js';
import type { Renderer } from './mail/render.js';
import type { StateStore } from './store/ports.js';

export interface Deps {
  config: Config;
  directory: DirectorySource;
  store: StateStore;
  clock: Clock;
  renderer: Renderer;
  /** A child logger for the component the deps are built for. */
  log: Logger;
}

/** The deps for one component (its name goes in every log line as `component`). */
export function buildDeps(parts: Omit<Deps, 'log'> & { log: Logger }, component: string): Deps {
  const { config, directory, store, clock, renderer, log } = parts;
  return { config, directory, store, clock, renderer, log: log.child({ component }) };
}
