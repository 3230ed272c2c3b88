/**
 * Who polls: with a shared database (state.backend postgres) one instance holds the leader
 * lease and polls and runs the jobs; the others stand by and deliver. The lease is renewed
 * every third of ha.leaseSeconds on the database's clock, and the store is fenced with the
 * token it was granted, so a leader that was paused or cut off past its lease commits nothing
 * (the transaction checks the token just before COMMIT). With SQLite there is no lease: the
 * one instance is the leader.
 */
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { LeaseState, StateStore } from '../store/ports.js';

export type Role = 'leader' | 'standby';

export interface LeadershipOptions {
  store: StateStore;
  instance: string;
  leaseSeconds: number;
  log: Logger;
  clock: Clock;
  /** Called when this instance becomes the leader (it should poll now) or stops being it. */
  changed: (role: Role) => void;
}

/** The token a standby fences its store with: no lease ever has it, so nothing commits. */
const NO_TOKEN = 0n;

export class Leadership {
  readonly instance: string;
  readonly #options: LeadershipOptions;
  #role: Role;
  #token: bigint = NO_TOKEN;
  #since: Date | null = null;
  /** The last lease seen: who holds it, since when (for status and the logs). */
  #seen: LeaseState | null = null;
  /** When the lease was last renewed by this instance (its own clock, for the outage rule). */
  #renewedAt = 0;
  /** While the database cannot be reached: since when and why. */
  #down: { since: Date; reason: string } | null = null;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | null = null;

  constructor(options: LeadershipOptions) {
    this.#options = options;
    this.instance = options.instance;
    this.#role = options.store.lease === null ? 'leader' : 'standby';
    if (options.store.lease !== null) options.store.fence({ instance: this.instance, token: NO_TOKEN });
    if (this.#role === 'leader') this.#since = options.clock.now();
  }

  get role(): Role {
    return this.#role;
  }

  get isLeader(): boolean {
    return this.#role === 'leader';
  }

  /** Whether there is a lease at all (a shared database). */
  get shared(): boolean {
    return this.#options.store.lease !== null;
  }

  get since(): Date | null {
    return this.#since;
  }

  /** Why this instance cannot reach the state database, and since when; null when it can. */
  get down(): { since: Date; reason: string } | null {
    return this.#down;
  }

  /** Takes or renews the lease now, then every third of its length; the first try may throw. */
  async start(): Promise<void> {
    if (!this.shared) return;
    await this.#renew(true);
    const every = Math.max(1_000, Math.floor((this.#options.leaseSeconds * 1_000) / 3));
    this.#timer = setInterval(() => {
      void this.renew();
    }, every);
    this.#timer.unref();
  }

  /** One renewal (never two at once); failures are logged and counted, never thrown. */
  async renew(): Promise<void> {
    this.#renewing ??= this.#renew(false).finally(() => {
      this.#renewing = null;
    });
    return this.#renewing;
  }

  async #renew(first: boolean): Promise<void> {
    const { store, instance, leaseSeconds, log, clock } = this.#options;
    const lease = store.lease;
    if (lease === null) return;
    try {
      const state = await lease.acquire(instance, leaseSeconds);
      this.#renewedAt = performance.now();
      if (this.#down !== null) {
        log.info('state database reachable again', { instance, downSince: this.#down.since.toISOString() });
        this.#down = null;
      }
      const previous = this.#seen;
      this.#seen = state;
      if (state.mine) this.#hold(state, previous);
      else if (this.#role === 'leader') {
        this.#lose(`${state.holder ?? 'another instance'} holds the lease (since ${state.since ?? '?'})`);
      } else if (state.holder === instance) {
        log.error('another process holds the lease under this instance name; standing by', {
          instance,
          fix: 'give each adnotify instance its own ha.instance',
        });
      } else if (first || previous?.holder !== state.holder) {
        log.info('standing by', { instance, leader: state.holder, leaderSince: state.since });
      }
      await lease.heartbeat(instance, this.#role);
    } catch (err: unknown) {
      if (first) throw err;
      const reason = errorMessage(err);
      if (this.#down === null) {
        this.#down = { since: clock.now(), reason };
        log.error('state database unreachable; the lease cannot be renewed', { instance, err: reason });
      }
      // The database's clock ends the lease after leaseSeconds: stop acting as leader by then.
      if (this.#role === 'leader' && performance.now() - this.#renewedAt >= leaseSeconds * 1_000) {
        this.#lose(`the lease could not be renewed for ${leaseSeconds} s: ${reason}`);
      }
    }
  }

  #hold(state: LeaseState, previous: LeaseState | null): void {
    const { store, instance, log, clock } = this.#options;
    if (this.#role === 'leader' && state.token === this.#token) return;
    const late = this.#role === 'leader';
    this.#token = state.token;
    store.fence({ instance, token: state.token });
    this.#role = 'leader';
    this.#since = state.since === null ? clock.now() : new Date(state.since);
    log.info(late ? 'lease renewed late: leader again with a new token' : 'became leader', {
      instance,
      token: state.token.toString(),
      previousLeader: previous?.holder ?? null,
    });
    this.#options.changed('leader');
  }

  #lose(reason: string): void {
    const { store, instance, log } = this.#options;
    store.fence({ instance, token: NO_TOKEN });
    this.#role = 'standby';
    this.#since = null;
    this.#token = NO_TOKEN;
    log.warn('lost leadership; standing by', { instance, reason });
    this.#options.changed('standby');
  }

  /** The lease was found gone while committing (DeposedError): stand by at once. */
  deposed(reason: string): void {
    if (this.#role === 'leader' && this.shared) this.#lose(reason);
  }

  /** Stops renewing and, as leader, hands the lease back so that a standby takes over now. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#renewing?.catch(() => undefined);
    const lease = this.#options.store.lease;
    if (lease === null || this.#role !== 'leader') return;
    const token = this.#token;
    this.#options.store.fence({ instance: this.instance, token: NO_TOKEN });
    this.#role = 'standby';
    await lease.release(this.instance, token).catch((err: unknown) => {
      this.#options.log.warn('could not release the lease; it expires by itself', {
        err: errorMessage(err),
      });
    });
    this.#options.log.info('lease released', { instance: this.instance });
  }
}
