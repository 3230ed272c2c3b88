/**
 * The daemon's delivery rounds and what they leave behind: since when the mail service has
 * not taken mail (for /healthz and adnotify_smtp_down), and whether it refused adnotify's
 * credentials, after which no round runs until the config is reloaded (each try would only
 * be refused again, and a password's tries count towards a lockout).
 */
import type { Config } from '../config/schema.js';
import { MAIL } from '../core/channels.js';
import type { Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import type { Logger } from '../log/logger.js';
import { deliverChannels, deliverDue } from '../mail/dispatcher.js';
import type { Transport } from '../mail/port.js';
import type { StateStore } from '../store/ports.js';
import type { Metrics } from './metrics.js';

/** What to do about items of a channel that is no longer configured. */
export const ORPHANS_FIX =
  'items wait for channels that are no longer configured and cannot be sent: add the channel back to channels: (or siem:), or drop them with "adnotify outbox discard ID"';

export class DeliveryRounds {
  /** Since when rounds find the mail service unreachable or refusing, and why. */
  downSince: Date | null = null;
  downReason: string | null = null;
  /** Why the mail service refused adnotify's credentials, while sending is stopped. */
  refused: string | null = null;
  readonly #metrics: Metrics;
  readonly #clock: Clock;

  constructor(metrics: Metrics, clock: Clock) {
    this.#metrics = metrics;
    this.#clock = clock;
  }

  /** Each channel besides mail that the last round could not reach: since when, and why. */
  readonly channelsDown = new Map<string, { since: Date; reason: string; service: string }>();

  /**
   * Sends what is due to every channel: mail unless its credentials were refused, then each
   * chat, webhook and SIEM channel on its own. Records how it went.
   */
  async run(parts: {
    store: StateStore;
    transport: Transport;
    channels: ReadonlyMap<string, Transport>;
    log: Logger;
    config: Config;
  }): Promise<{ sent: number; failed: number }> {
    const options = {
      maxAttempts: parts.config.delivery.maxAttempts,
      retryBaseMs: parseDuration(parts.config.delivery.retryDelay) ?? 60_000,
    };
    const mail = await this.#mail(parts, options);
    const reports = await deliverChannels(
      parts.store,
      parts.channels,
      this.#clock,
      parts.log.child({ component: 'channels' }),
      options,
    );
    for (const [channel, report] of reports) {
      this.#metrics.channelSent.inc({ channel }, report.sent);
      this.#metrics.channelFailures.inc({ channel }, report.retrying + report.failed);
      this.#metrics.channelDown.set({ channel }, report.stopped === null ? 0 : 1);
      if (report.stopped === null) {
        this.channelsDown.delete(channel);
        continue;
      }
      const since = this.channelsDown.get(channel)?.since ?? this.#clock.now();
      const service = parts.channels.get(channel)?.service ?? channel;
      this.channelsDown.set(channel, { since, reason: report.stopped.reason, service });
      parts.log.warn('channel items wait in the outbox', { channel, reason: report.stopped.reason });
    }
    // A channel no longer configured (reloaded away) is no longer down; its items cannot go.
    for (const channel of this.channelsDown.keys()) {
      if (!parts.channels.has(channel)) this.channelsDown.delete(channel);
    }
    await this.#orphans(parts);
    return { sent: mail.sent, failed: mail.failed };
  }

  /** Items waiting for channels the config no longer has: they cannot go. Said once per change. */
  readonly orphans = new Map<string, number>();
  #orphansSaid = '';

  async #orphans(parts: {
    store: StateStore;
    channels: ReadonlyMap<string, Transport>;
    log: Logger;
  }): Promise<void> {
    this.orphans.clear();
    for (const [channel, n] of await parts.store.outbox.waitingByChannel()) {
      if (channel !== MAIL && !parts.channels.has(channel)) this.orphans.set(channel, n);
    }
    const said = [...this.orphans.keys()].sort().join(',');
    if (said !== this.#orphansSaid && this.orphans.size > 0) {
      parts.log.warn(ORPHANS_FIX, { channels: Object.fromEntries(this.orphans) });
    }
    this.#orphansSaid = said;
  }

  async #mail(
    parts: { store: StateStore; transport: Transport; log: Logger },
    options: { maxAttempts: number; retryBaseMs: number },
  ): Promise<{ sent: number; failed: number }> {
    const { store, transport, log } = parts;
    if (this.refused !== null) {
      log.debug('delivery skipped: the mail service refused the credentials; waiting for a config reload');
      return { sent: 0, failed: 0 };
    }
    const report = await deliverDue(store, transport, this.#clock, log.child({ component: 'mail' }), options);
    this.#metrics.sent.inc(report.sent);
    this.#metrics.sendFailures.inc(report.retrying + report.failed);
    const stopped = report.stopped;
    if (stopped?.refusal === 'credentials') {
      this.refused = stopped.reason;
      this.#metrics.mailRefused.set(1);
      log.error('the mail service refused the credentials; sending no more until the config is reloaded', {
        err: stopped.reason,
        fix: 'correct the config (smtp.auth or microsoft365:, or the app permission), then reload it (SIGHUP) or restart adnotify',
      });
    } else if (stopped !== null) {
      log.warn('mail waits in the outbox', { reason: stopped.reason });
    }
    this.downSince = stopped === null ? null : (this.downSince ?? this.#clock.now());
    this.downReason = stopped?.reason ?? null;
    this.#metrics.smtpDown.set(stopped === null ? 0 : 1);
    return { sent: report.sent, failed: report.failed };
  }

  /** The config was reloaded: the credentials may be fixed. Whether they had been refused. */
  reloaded(): boolean {
    const was = this.refused !== null;
    this.refused = null;
    this.#metrics.mailRefused.set(0);
    return was;
  }
}
