/**
 * poll.trigger notification: the DC's change notifications (MS-ADTS 3.1.1.3.4.1.9) start a
 * cycle within seconds, as a trigger only; everything told still comes from the uSNChanged
 * cycle. The search runs on a connection of its own, on directory.baseDN where the DC accepts
 * that, else on the naming context's root. A lost connection is opened again with back-off
 * (poll.schedule alone drives cycles meanwhile); a DC without the control, or one that refuses
 * it, leaves the schedule alone with one warning. Notifications are debounced (poll.debounce)
 * and spaced (poll.minInterval), so a noisy DC cannot make adnotify poll continuously.
 */
import type { Config } from '../config/schema.js';
import { namingContextOf } from '../core/dn.js';
import { parseDuration } from '../core/duration.js';
import { NotificationControl } from '../directory/controls.js';
import { LdapDirectory } from '../directory/ldap.js';
import { ConfigError, DirectoryAuthError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** What /healthz says of the trigger. */
export interface TriggerState {
  /** notification: cycles start on the DC's notifications (and the schedule); schedule: the schedule alone. */
  trigger: 'notification' | 'schedule';
  connected: boolean;
  /** Where the notification search runs, while it does. */
  base: string | null;
  /** Since when it has been connected, or down. */
  since: string;
  /** Why it is down, or why the schedule alone is used. */
  reason: string | null;
}

export interface TriggerOptions {
  config: Config;
  log: Logger;
  /** A cycle is due (the debounce and the minimum interval have passed). */
  fire: () => void;
  /** The notification connection came up (true) or went down (false). */
  connected: (up: boolean) => void;
  /** The DC sent a notification (counted: what a busy DC costs). */
  received?: () => void;
  /** The DC's directory, for tests: a persistent LdapDirectory on directory.urls by default. */
  directory?: () => LdapDirectory;
}

/**
 * Said with the trigger when the DC is Samba. Samba 4.17 runs a notification search again at
 * once only in the process that served a write (source4/ldap_server/ldap_server.c,
 * ldapsrv_notification_retry_setup); its other prefork workers run theirs on a 5 s timer.
 */
export const SAMBA_NOTE =
  "Samba tells of a change at once only when the change was made through the LDAP worker process that holds this search; changes made through its other workers are told up to 5 s later. smb.conf 'prefork children:ldap = 1' serves all LDAP from one worker (README, 'Told within seconds', says when that suits a DC)";

/** What the trigger says of a DC whose rootDSE names `vendor` (null: none, as Active Directory). */
export function vendorNote(vendor: string | null): string | undefined {
  return vendor !== null && /^samba\b/i.test(vendor) ? SAMBA_NOTE : undefined;
}

const MAX_BACKOFF_MS = 60_000;
/** How often an open notification connection is checked (a cut without FIN sends nothing). */
const CHECK_EVERY_MS = 60_000;

export class NotificationTrigger {
  readonly #o: TriggerOptions;
  readonly #debounceMs: number;
  readonly #minIntervalMs: number;
  #stopped = false;
  #directory: LdapDirectory | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  /** Ends the back-off wait at once (stop()). */
  #wake: (() => void) | undefined;
  #check: NodeJS.Timeout | undefined;
  #lastFired = 0;
  #failures = 0;
  /** The DC's vendor note was said (vendorNote). */
  #noted = false;
  #state: TriggerState;
  #running: Promise<void> | undefined;

  constructor(options: TriggerOptions) {
    this.#o = options;
    const poll = options.config.poll;
    this.#debounceMs = parseDuration(poll.debounce) ?? 1_000;
    this.#minIntervalMs = parseDuration(poll.minInterval) ?? 2_000;
    this.#state = {
      trigger: 'notification',
      connected: false,
      base: null,
      since: new Date().toISOString(),
      reason: 'connecting',
    };
  }

  get state(): TriggerState {
    return { ...this.#state };
  }

  /** Opens the notification search (unless poll.trigger is schedule) and keeps it open. */
  start(): void {
    if (this.#o.config.poll.trigger === 'schedule') {
      this.#schedule('poll.trigger is schedule', 'info');
      return;
    }
    this.#stopped = false;
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#debounce);
    clearTimeout(this.#retry);
    this.#wake?.();
    clearInterval(this.#check);
    this.#debounce = undefined;
    await this.#directory?.close();
    await this.#running;
  }

  /** A notification arrived: a cycle after the debounce, and not sooner than minInterval after the last. */
  notified(): void {
    if (this.#debounce !== undefined || this.#stopped) return;
    const wait = Math.max(this.#debounceMs, this.#lastFired + this.#minIntervalMs - Date.now());
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#lastFired = Date.now();
      this.#o.fire();
    }, wait);
    this.#debounce.unref();
  }

  /** Read afresh after each await: stop() may have run meanwhile. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  async #run(): Promise<void> {
    const { config, log } = this.#o;
    const explicit = config.poll.trigger === 'notification';
    while (!this.#stopped) {
      const directory =
        this.#o.directory?.() ??
        new LdapDirectory({
          config: config.directory,
          log: log.child({ component: 'notifications' }),
          persistent: true,
        });
      this.#directory = directory;
      try {
        await directory.connect();
        const dc = await directory.controlsAndVendor();
        if (!dc.controls.includes(NotificationControl.oid)) {
          this.#schedule(
            `${directory.url ?? 'the DC'} does not list the change-notification control (${NotificationControl.oid}) in supportedControl`,
            explicit ? 'warn' : 'info',
          );
          return;
        }
        this.#schedule(await this.#search(directory, dc.vendor), 'warn');
        return;
      } catch (err: unknown) {
        if (this.#isStopped()) return;
        if (err instanceof DirectoryAuthError || err instanceof ConfigError) {
          // Each try would count towards the account's lockout: no more until a reload.
          this.#schedule(
            `${errorMessage(err)}; change notifications stay off until the config is reloaded`,
            'warn',
          );
          return;
        }
        this.#down(errorMessage(err));
      } finally {
        clearInterval(this.#check);
        await directory.close();
      }
      if (this.#isStopped()) return;
      await this.#backOff();
    }
  }

  /**
   * The notification search on directory.baseDN, else on the naming context's root when the DC
   * refuses a subtree there; returns why the DC refuses both (any other end of the search
   * throws). `vendor`: who made the DC, for the log.
   */
  async #search(directory: LdapDirectory, vendor: string | null): Promise<string> {
    const { config, log } = this.#o;
    const identity = await directory.identity();
    const root = namingContextOf(config.directory.baseDN, identity.namingContexts);
    const bases =
      root.toLowerCase() === config.directory.baseDN.toLowerCase() ? [root] : [config.directory.baseDN, root];
    let refusal = '';
    for (const base of bases) {
      this.#up(base, directory.url ?? '', vendor);
      this.#check = setInterval(() => {
        // A connection cut without a word sends nothing: ask the DC something now and then.
        directory.supportsControl(NotificationControl.oid).catch(() => directory.close());
      }, CHECK_EVERY_MS);
      this.#check.unref();
      try {
        await directory.notifications(base, () => {
          this.#o.received?.();
          this.notified();
        });
      } catch (err: unknown) {
        clearInterval(this.#check);
        if ((err as { code?: number }).code !== 53) throw err;
        refusal = `${directory.url ?? 'the DC'} refuses a change-notification search on ${base}: ${errorMessage(err)}`;
        log.info('the DC refuses a change-notification search here', { base, err: errorMessage(err) });
      }
    }
    return refusal;
  }

  #up(base: string, url: string, vendor: string | null): void {
    // Once: a reconnect names the DC again, without the paragraph.
    const note = this.#noted ? undefined : vendorNote(vendor);
    if (note !== undefined) this.#noted = true;
    this.#failures = 0;
    this.#state = {
      trigger: 'notification',
      connected: true,
      base,
      since: new Date().toISOString(),
      reason: null,
    };
    this.#o.connected(true);
    this.#o.log.info('poll trigger: notification', {
      url,
      base,
      debounce: this.#o.config.poll.debounce,
      minInterval: this.#o.config.poll.minInterval,
      schedule: this.#o.config.poll.schedule,
      ...(vendor === null ? {} : { dc: vendor }),
      ...(note === undefined ? {} : { note }),
    });
  }

  #down(reason: string): void {
    const wasUp = this.#state.connected;
    this.#failures++;
    this.#state = {
      trigger: 'notification',
      connected: false,
      base: null,
      since: wasUp ? new Date().toISOString() : this.#state.since,
      reason,
    };
    this.#o.connected(false);
    if (wasUp || this.#failures === 1) {
      this.#o.log.warn('change notifications lost; poll.schedule alone drives cycles until they are back', {
        err: reason,
      });
    }
  }

  /** The schedule alone, for good (until a restart or reload): said once. */
  #schedule(reason: string, level: 'info' | 'warn'): void {
    this.#state = {
      trigger: 'schedule',
      connected: false,
      base: null,
      since: new Date().toISOString(),
      reason,
    };
    this.#o.connected(false);
    this.#o.log[level]('poll trigger: schedule', { reason, schedule: this.#o.config.poll.schedule });
  }

  async #backOff(): Promise<void> {
    const ms = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(this.#failures - 1, 6));
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#retry = setTimeout(resolve, ms);
      this.#retry.unref();
    });
    this.#wake = undefined;
  }
}
