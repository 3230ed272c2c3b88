/**
 * `adnotify run`: polls on poll.schedule, runs the password-expiry and lifecycle jobs on their
 * cron schedules, delivers mail, and watches its own health, until stopped. All work goes
 * through one queue, so cycles and jobs never overlap one another or a cycle's transaction.
 * A failed cycle is logged and retried with back-off; the LDAP connection is then opened
 * afresh (trying directory.urls in order) on the next attempt.
 *
 * Over 300 lines on purpose: polls, jobs, delivery, reload and stop share the one queue and
 * the parts it swaps on reload; the scheduling, preflight, health, alerts and the delivery
 * rounds (delivery.ts) are beside it.
 */
import type { Server } from 'node:http';

import type { LoadedConfig } from '../config/load.js';
import { buildDeps } from '../deps.js';
import type { Clock } from '../core/clock.js';
import type { DirectorySource } from '../directory/port.js';
import {
  AdnotifyError,
  BindPasswordRefusedError,
  ConfigError,
  DeposedError,
  DirectoryError,
  errorMessage,
  ReplicationLagError,
} from '../errors.js';
import type { Logger } from '../log/logger.js';
import { DeliveryRounds } from './delivery.js';
import type { Transport } from '../mail/port.js';
import type { Renderer } from '../mail/render.js';
import type { StateStore } from '../store/ports.js';
import { runCycle } from '../poll/cycle.js';
import { NotificationTrigger } from '../poll/trigger.js';
import { Redactor } from '../log/redact.js';
import { checkHealth } from './alerts.js';
import { Leadership, type Role } from './leadership.js';
import { healthOf } from './health.js';
import { preflight } from './preflight.js';
import { Scheduler } from './scheduler.js';
import { lifecycleJob } from '../jobs/lifecycle/job.js';
import { Metrics, serveHttp, type Health } from './metrics.js';
import type { HealthFacts } from './health.js';
import { passwordExpiryJob } from '../jobs/passwordExpiry.js';
import { runDigest } from '../notify/digest.js';

/** The long-lived parts built from one config. */
export interface DaemonParts {
  loaded: LoadedConfig;
  log: Logger;
  store: StateStore;
  directory: DirectorySource;
  renderer: Renderer;
  transport: Transport;
  /** Every channel's transport but mail's (chat, webhooks, SIEM sinks), by channel name. */
  channels: ReadonlyMap<string, Transport>;
}

export interface DaemonFactory {
  /** Reads and validates the config file (throws ConfigError). */
  load(): LoadedConfig;
  /** Builds the parts for a config; `previous` parts are closed by the daemon, not here. */
  build(loaded: LoadedConfig): Promise<DaemonParts>;
  clock: Clock;
  /** This instance's name in the leader lease and in status (ha.instance, else hostname:pid). */
  instance(loaded: LoadedConfig): string;
}

/** How long stop() waits for the work in progress, then for a last delivery. */
const STOP_WAIT_MS = 30_000;
const FLUSH_WAIT_MS = 10_000;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

export class Daemon {
  readonly #factory: DaemonFactory;
  #parts: DaemonParts;
  #queue: Promise<void> = Promise.resolve();
  #stopping = false;
  readonly #scheduler = new Scheduler((work) => {
    this.#enqueue(work);
  });
  #lastSuccess: Date | null = null;
  #lastError: string | null = null;
  /**
   * Why the directory refused the bind password, if it did: the daemon then binds no more
   * (each try would count towards the account's lockout) until its config is reloaded.
   */
  #bindRefused: string | null = null;
  /** While a failover waits for the new DC to catch up (ReplicationLagError): why. */
  #lagging: string | null = null;
  readonly #mail: DeliveryRounds;
  readonly #startedAt: Date;
  readonly #metrics: Metrics;
  #server: Server | undefined;
  #leadership: Leadership;
  /** Once start() scheduled the work: a lease won before then is followed by start's poll. */
  #started = false;
  /** Became leader since the last poll: the last success is the previous leader's, if later. */
  #tookOver = false;
  /** The change notifications that start cycles, while this instance leads (poll.trigger). */
  #trigger: NotificationTrigger | undefined;

  constructor(factory: DaemonFactory, parts: DaemonParts) {
    this.#factory = factory;
    this.#parts = parts;
    this.#startedAt = factory.clock.now();
    this.#metrics = new Metrics(() => (this.#stopping ? undefined : this.#parts.store));
    this.#mail = new DeliveryRounds(this.#metrics, factory.clock);
    this.#leadership = this.#lead(parts);
  }

  /** Leadership over the parts' store: the lease on a shared database, always leader alone. */
  #lead(parts: DaemonParts): Leadership {
    const leadership = new Leadership({
      store: parts.store,
      instance: this.#factory.instance(parts.loaded),
      leaseSeconds: parts.loaded.config.ha.leaseSeconds,
      log: parts.log.child({ component: 'ha' }),
      clock: this.#factory.clock,
      changed: (role: Role) => {
        this.#metrics.leader.set(role === 'leader' ? 1 : 0);
        // The new leader polls now: a standby takes over within the lease plus one cycle.
        if (role === 'leader') this.#tookOver = true;
        if (role === 'leader' && this.#started) this.#enqueue('poll');
        // A leader opens them after its first successful poll (#poll); a standby closes them.
        if (this.#started && role === 'standby') void this.#watch(false);
      },
    });
    this.#metrics.leader.set(leadership.isLeader ? 1 : 0);
    return leadership;
  }

  get #log(): Logger {
    return this.#parts.log;
  }

  get #config() {
    return this.#parts.loaded.config;
  }

  /**
   * Checks what cannot fix itself (the config, the LDAP and SMTP credentials) and exits at
   * once when it is wrong; then schedules the work and takes the first poll.
   */
  async start(): Promise<void> {
    const last = await this.#parts.store.cycles.lastRun();
    if (last?.outcome === 'ok') this.#lastSuccess = new Date(last.finishedAt);
    await preflight(this.#config, this.#parts.directory, this.#parts.transport, this.#log);
    if (this.#config.http.listen !== null) {
      this.#server = await serveHttp(this.#config.http.listen, this.#metrics, () => this.health());
      this.#log.info('serving /healthz and /metrics', { listen: this.#config.http.listen });
    }
    await this.#leadership.start();
    this.#scheduler.start(this.#config);
    this.#started = true;
    this.#log.info('adnotify started', {
      config: this.#parts.loaded.file,
      instance: this.#leadership.instance,
      role: this.#leadership.role,
      poll: this.#config.poll.schedule,
      passwordExpiry: this.#config.passwordExpiry.enabled ? this.#config.passwordExpiry.schedule : 'off',
      lifecycle: this.#config.lifecycle.enabled ? this.#config.lifecycle.schedule : 'off',
    });
    this.#enqueue('poll');
  }

  /** Runs `kind` after everything queued before it: nothing overlaps. */
  #enqueue(kind: 'poll' | 'password-expiry' | 'lifecycle' | 'digest' | 'reload'): void {
    if (this.#stopping) return;
    this.#queue = this.#queue.then(async () => {
      if (this.#stopping) return;
      try {
        if (kind === 'poll') await this.#poll();
        else if (kind === 'reload') await this.#reload();
        else if (kind === 'digest') await this.#digest();
        else await this.#job(kind);
      } catch (err: unknown) {
        if (err instanceof BindPasswordRefusedError) this.#refuseBinds(err);
        else this.#log.error(`${kind} failed`, { err: errorMessage(err) });
      }
    });
  }

  async #poll(): Promise<void> {
    const { config, store, directory, log } = { ...this.#parts, config: this.#config };
    const clock = this.#factory.clock;
    const started = performance.now();
    try {
      if (this.#bindRefused !== null) {
        log.debug('poll skipped: the bind password was refused; waiting for a config reload');
        await this.#deliver();
        return;
      }
      if (!this.#leadership.isLeader) {
        // A standby delivers (claims keep two instances off one item) and waits for the lease.
        await this.#deliver();
        return;
      }
      if (this.#tookOver) {
        // /healthz and the alerts count from the pair's last successful poll, not this one's.
        this.#tookOver = false;
        const last = await store.cycles.lastRun();
        const at = last?.outcome === 'ok' ? new Date(last.finishedAt) : null;
        if (at && (this.#lastSuccess === null || at > this.#lastSuccess)) this.#lastSuccess = at;
      }
      const summary = await runCycle(buildDeps({ ...this.#parts, config, clock }, 'cycle'));
      const seconds = (performance.now() - started) / 1000;
      this.#metrics.cycleSeconds.observe(seconds);
      this.#metrics.cycles.inc({ kind: summary.kind, outcome: 'ok' });
      this.#metrics.lastSuccess.set(clock.now().getTime() / 1000);
      const types = await eventTypes(store, summary.cycleId);
      for (const [type, n] of types) this.#metrics.events.inc({ type }, n);
      this.#scheduler.pollSucceeded();
      // The change notifications bind only once a poll proved the bind password: a refused one
      // is found by the poll alone, which then binds no more (lockout).
      if (this.#trigger === undefined) await this.#watch(true);
      this.#lastSuccess = clock.now();
      this.#lastError = null;
      this.#lagging = null;
      const mail = await this.#deliver();
      log.info('poll done', {
        kind: summary.kind,
        objects: summary.objects,
        events: summary.events,
        types: [...types.keys()],
        cycle: summary.cycleId,
        queued: summary.messages,
        held: summary.held,
        sent: mail.sent,
        failed: mail.failed,
        seconds: Number(seconds.toFixed(3)),
      });
    } catch (err: unknown) {
      if (err instanceof DeposedError) {
        // Nothing was committed: the new leader goes on from the cursor as it was.
        this.#leadership.deposed(err.message);
        await this.#deliver().catch(() => undefined);
        return;
      }
      this.#lastError = errorMessage(err);
      this.#metrics.cycles.inc({ kind: 'incremental', outcome: 'failed' });
      const retryIn = this.#scheduler.pollFailed(!(err instanceof BindPasswordRefusedError));
      this.#lagging = err instanceof ReplicationLagError ? this.#redact(err.message) : null;
      if (err instanceof BindPasswordRefusedError) {
        this.#refuseBinds(err);
      } else if (this.#lagging === null) {
        log.error('poll failed; retrying', {
          err: this.#lastError,
          failures: this.#scheduler.failures,
          retryInSeconds: Math.round(retryIn / 1000),
        });
      }
      // Open the connection afresh next time (it may be half-dead), trying every URL again.
      if (err instanceof DirectoryError || !(err instanceof AdnotifyError)) await directory.close();
      await this.#deliver().catch(() => undefined);
    } finally {
      // The alerts' state is shared: only the leader, which polls, raises and clears them.
      if (this.#leadership.isLeader) await this.#alerts(log);
      if (!this.#stopping) this.#scheduler.armNextPoll();
    }
  }

  /** Raises or clears the alerts about adnotify's own health (alerts.ts). */
  async #alerts(log: Logger): Promise<void> {
    const { store, renderer } = this.#parts;
    await checkHealth(
      { config: this.#config, store, renderer, log: log.child({ component: 'health' }) },
      {
        now: this.#factory.clock.now(),
        lastSuccess: this.#lastSuccess,
        startedAt: this.#startedAt,
        lastError: this.#lastError === null ? null : this.#redact(this.#lastError),
      },
    );
  }

  /**
   * Opens the change notifications (`leading`: only the leader polls) or closes them; a reload
   * closes them, and the next successful poll opens them with the new config.
   */
  async #watch(leading: boolean): Promise<void> {
    const trigger = this.#trigger;
    this.#trigger = undefined;
    await trigger?.stop();
    this.#metrics.notificationConnected.set(0);
    if (!leading || this.#stopping) return;
    this.#trigger = new NotificationTrigger({
      config: this.#config,
      log: this.#log.child({ component: 'trigger' }),
      fire: () => {
        this.#metrics.triggeredCycles.inc();
        this.#enqueue('poll');
      },
      connected: (up) => {
        this.#metrics.notificationConnected.set(up ? 1 : 0);
      },
      received: () => {
        this.#metrics.notifications.inc();
      },
    });
    this.#trigger.start();
  }

  /** Whether this instance may run leader work now; a standby says why it skips `kind`. */
  #leads(kind: string): boolean {
    if (this.#leadership.isLeader) return true;
    this.#log.debug(`${kind} skipped: this instance stands by; the leader runs it`);
    return false;
  }

  /** The directory refused the bind password: stop binding until the config is reloaded. */
  #refuseBinds(err: BindPasswordRefusedError): void {
    this.#bindRefused = err.message;
    this.#log.error('bind password refused; not binding again until the config is reloaded', {
      err: err.message,
      fix: 'correct directory.bindPassword, then reload the config (SIGHUP) or restart adnotify',
    });
  }

  async #job(kind: 'password-expiry' | 'lifecycle'): Promise<void> {
    if (!this.#leads(kind)) return;
    if (this.#bindRefused !== null) {
      this.#log.warn(`${kind} skipped: the bind password was refused; waiting for a config reload`);
      return;
    }
    const deps = buildDeps({ ...this.#parts, config: this.#config, clock: this.#factory.clock }, kind);
    if (kind === 'password-expiry') {
      const due = await passwordExpiryJob(deps, { dryRun: false });
      this.#log.info('password-expiry done', { reminders: due.length });
    } else {
      const steps = await lifecycleJob(deps, { dryRun: false });
      this.#log.info('lifecycle done', { steps: steps.length, failed: steps.filter((s) => s.error).length });
    }
    await this.#deliver();
  }

  /** delivery.digest.schedule: the pending digests go out (they need no directory). */
  async #digest(): Promise<void> {
    if (!this.#leads('digest')) return;
    const deps = buildDeps({ ...this.#parts, config: this.#config, clock: this.#factory.clock }, 'digest');
    const outcome = await runDigest(deps);
    this.#log.info('digest done', { digests: outcome.digests.filter((d) => d.outboxId !== null).length });
    await this.#deliver();
  }

  async #deliver(): Promise<{ sent: number; failed: number }> {
    return this.#mail.run({ ...this.#parts, config: this.#config });
  }

  /** SIGHUP: re-read the config; apply it when valid, else keep the old one and say why. */
  reload(): void {
    this.#enqueue('reload');
  }

  async #reload(): Promise<void> {
    let loaded: LoadedConfig;
    try {
      loaded = this.#factory.load();
    } catch (err: unknown) {
      const detail =
        err instanceof ConfigError
          ? err.problems.map((p) => `${p.path}: ${p.message}`).join('; ')
          : errorMessage(err);
      this.#log.error('new config is invalid; keeping the old one', {
        file: this.#parts.loaded.file,
        problems: detail,
      });
      return;
    }
    const old = this.#parts;
    let next: DaemonParts;
    try {
      next = await this.#factory.build(loaded);
    } catch (err: unknown) {
      this.#log.error('new config cannot be applied; keeping the old one', {
        file: this.#parts.loaded.file,
        err: errorMessage(err),
      });
      return;
    }
    this.#scheduler.stop();
    await old.directory.close();
    old.transport.close();
    for (const t of old.channels.values()) t.close();
    this.#parts = next;
    // Opened again, with the new config, after the next successful poll.
    await this.#watch(false);
    if (next.store !== old.store) {
      // Another state: its own lease (ha.* is read again with it).
      await this.#leadership.stop();
      await old.store.close();
      this.#leadership = this.#lead(next);
      await this.#leadership.start().catch((err: unknown) => {
        this.#log.error('the new state cannot be reached; retrying the lease', { err: errorMessage(err) });
        void this.#leadership.start();
      });
    }
    this.#scheduler.start(this.#config);
    this.#log.info('config reloaded', { file: loaded.file });
    const mailRefused = this.#mail.reloaded();
    if (this.#bindRefused !== null || mailRefused) {
      // The administrator says the credentials are fixed: try them now, once.
      this.#bindRefused = null;
      this.#enqueue('poll');
    } else {
      if (!this.#stopping) this.#scheduler.armNextPoll();
    }
  }

  /** Stops scheduling, lets the work in progress finish (bounded), sends what it can, closes. */
  async stop(signal: string): Promise<void> {
    this.#log.info('stopping', { signal });
    this.#scheduler.stop();
    await this.#watch(false);
    const pending = this.#queue;
    this.#stopping = true;
    const finished = await Promise.race([pending.then(() => true), sleep(STOP_WAIT_MS).then(() => false)]);
    if (!finished)
      this.#log.warn('the work in progress did not finish in time; its transaction is rolled back');
    else await Promise.race([this.#deliver().catch(() => undefined), sleep(FLUSH_WAIT_MS)]);
    await new Promise<void>((resolve) => {
      if (!this.#server) {
        resolve();
        return;
      }
      this.#server.close(() => {
        resolve();
      });
      this.#server.closeAllConnections();
    });
    this.#parts.transport.close();
    for (const t of this.#parts.channels.values()) t.close();
    await this.#parts.directory.close();
    // Handed back only once nothing of ours can commit: a standby takes over at once.
    if (finished) await this.#leadership.stop();
    if (finished) await this.#parts.store.close();
    this.#log.info('stopped', { signal });
  }

  #redact(text: string): string {
    return new Redactor(this.#parts.loaded.secrets).text(text);
  }

  /** Who leads, for /healthz: this instance's role and why the state cannot be reached. */
  get leadership(): Leadership {
    return this.#leadership;
  }

  async health(): Promise<Health> {
    const store = this.#stopping ? null : this.#parts.store;
    let counts: HealthFacts['counts'] = null;
    let stateError: string | null = null;
    try {
      const schedules = store === null ? null : await store.schedules.counts();
      counts = store &&
        schedules && {
          ...(await store.outbox.counts()),
          stuckSchedules: schedules.failed,
          failedSchedules: schedules['failed-final'],
        };
    } catch (err: unknown) {
      stateError = errorMessage(err);
    }
    const down = this.#leadership.down;
    const health = healthOf({
      role: this.#leadership.role,
      shared: this.#leadership.shared,
      stateDown: stateError ?? down?.reason ?? null,
      now: this.#factory.clock.now(),
      intervalMs: this.#scheduler.intervalMs(this.#config),
      startedAt: this.#startedAt,
      lastSuccess: this.#lastSuccess,
      lastError: this.#lastError,
      bindRefused: this.#bindRefused,
      lagging: this.#lagging,
      mailRefused: this.#mail.refused,
      mailDownSince: this.#mail.downSince,
      mailDownReason: this.#mail.downReason,
      mailService: this.#parts.transport.service,
      channelsDown: this.#mail.channelsDown,
      orphans: this.#mail.orphans,
      counts,
      redact: (text: string) => this.#redact(text),
    });
    return this.#trigger ? { ...health, trigger: this.#trigger.state } : health;
  }
}

async function eventTypes(
  store: Pick<StateStore, 'events'>,
  cycleId: number | null,
): Promise<Map<string, number>> {
  return cycleId === null ? new Map<string, number>() : store.events.typesOfCycle(cycleId);
}
