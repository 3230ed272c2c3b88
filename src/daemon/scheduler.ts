/**
 * When the daemon's work is due: polls on poll.schedule (a duration: the next poll this long
 * after the last one ends, later after failures; a cron expression: on its ticks, skipped
 * while backing off), the password-expiry and lifecycle jobs on their cron schedules. It only
 * says "due"; the daemon runs the work, one piece at a time.
 */
import { createTask, type ScheduledTask } from 'node-cron';

import type { Config } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';

export type Work = 'poll' | 'password-expiry' | 'lifecycle' | 'digest';

const MAX_BACKOFF_MS = 15 * 60_000;

export class Scheduler {
  readonly #due: (work: Work) => void;
  #config: Config | undefined;
  #timer: NodeJS.Timeout | undefined;
  #tasks: ScheduledTask[] = [];
  #failures = 0;
  #backoffUntil = 0;

  constructor(due: (work: Work) => void) {
    this.#due = due;
  }

  /** Consecutive failed polls. */
  get failures(): number {
    return this.#failures;
  }

  start(config: Config): void {
    this.#config = config;
    if (parseDuration(config.poll.schedule) === undefined) {
      this.#cron(config.poll.schedule, 'poll', () => {
        if (Date.now() >= this.#backoffUntil) this.#due('poll');
      });
    }
    if (config.passwordExpiry.enabled) this.#cron(config.passwordExpiry.schedule, 'password-expiry');
    if (config.lifecycle.enabled) this.#cron(config.lifecycle.schedule, 'lifecycle');
    if (config.delivery.digest) this.#cron(config.delivery.digest.schedule, 'digest');
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const task of this.#tasks.splice(0)) void task.destroy();
  }

  pollSucceeded(): void {
    this.#failures = 0;
    this.#backoffUntil = 0;
  }

  /**
   * A poll failed: returns how long until the next try (exponential, at most 15 minutes).
   * With `backOff` false (the bind password was refused: polls wait for a reload instead),
   * cron ticks are not held back.
   */
  pollFailed(backOff = true): number {
    this.#failures++;
    const retryIn = this.#retryDelay();
    if (backOff) this.#backoffUntil = Date.now() + retryIn;
    return retryIn;
  }

  /** Duration schedules: the next poll after this one ends (later after failures). */
  armNextPoll(): void {
    const interval = this.#config && parseDuration(this.#config.poll.schedule);
    if (interval === undefined) return;
    const delay = this.#failures === 0 ? interval : Math.max(interval, this.#retryDelay());
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#due('poll');
    }, delay);
  }

  /** The poll interval: the duration, or the gap between the next two runs of the cron schedule. */
  intervalMs(config: Config): number {
    const duration = parseDuration(config.poll.schedule);
    if (duration !== undefined) return duration;
    const [a, b] = this.#tasks[0]?.getNextRuns(2) ?? [];
    return a && b ? b.getTime() - a.getTime() : 60_000;
  }

  #retryDelay(): number {
    const base = (this.#config && parseDuration(this.#config.poll.schedule)) ?? 60_000;
    return Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(this.#failures - 1, 10));
  }

  #cron(
    expression: string,
    name: Work,
    fire = () => {
      this.#due(name);
    },
  ): void {
    const task = createTask(expression, fire, { name, noOverlap: true });
    void task.start();
    this.#tasks.push(task);
  }
}
