/**
 * Sends what is due in the outbox, one message at a time through one transport (port.ts),
 * and records each outcome as it happens. A message the far end refuses for good fails at
 * once; one that may go later is retried with exponential back-off until
 * delivery.maxAttempts. When the session itself fails (the server unreachable, adnotify's
 * credentials refused, the service throttling), the round stops after that message: the rest
 * wait, their attempts untouched, so an outage delays mail and loses none.
 */
import { hostname } from 'node:os';

import type { Clock } from '../core/clock.js';
import { MAIL } from '../core/channels.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { StateStore } from '../store/ports.js';
import { DeliveryError, holdsAll, type SessionRefusal, type Transport } from './port.js';

export interface DeliveryOptions {
  maxAttempts: number;
  /** The first retry waits this long; each further one twice as long, up to an hour. */
  retryBaseMs: number;
}

export interface DeliveryReport {
  sent: number;
  retrying: number;
  failed: number;
  /** Set when the round stopped with every message waiting: why, and whose fault it is. */
  stopped: { reason: string; refusal: SessionRefusal } | null;
}

const MAX_BACKOFF_MS = 3_600_000;
/**
 * How long a sender holds a message it claimed: past this, a sender that died is taken to
 * have died and another may send it (at least once, never lost). Longer than any one send.
 */
export const CLAIM_MS = 60_000;

export function backoffMs(attempts: number, baseMs: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempts - 1));
}

/** Who this sender is in a claim: the host and the process. */
export const SENDER = `${hostname()}:${process.pid}`;

/** A sender on this host whose process no longer runs (killed, crashed): its claims are void. */
export function goneLocally(owner: string): boolean {
  const at = owner.lastIndexOf(':');
  if (owner.slice(0, at) !== hostname()) return false;
  const pid = Number(owner.slice(at + 1));
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err: unknown) {
    return (err as { code?: string }).code === 'ESRCH';
  }
}

/**
 * Sends the due items of one channel (mail, a chat or webhook channel, a SIEM sink) through
 * its transport, oldest first. Channels are delivered on their own: a sink that is down stops
 * its own round only, and its items keep their order.
 */
export async function deliverDue(
  store: Pick<StateStore, 'outbox'>,
  transport: Transport,
  clock: Clock,
  log: Logger,
  options: DeliveryOptions,
  channel: string = MAIL,
): Promise<DeliveryReport> {
  const report: DeliveryReport = { sent: 0, retrying: 0, failed: 0, stopped: null };
  // A message a killed process had claimed goes now, not when its claim runs out.
  const released = await store.outbox.releaseClaims(goneLocally);
  if (released > 0) log.info('claims of a sender that is gone released', { messages: released });
  for (;;) {
    const due = await store.outbox.due(clock.now().toISOString(), 100, channel);
    if (due.length === 0) return report;
    for (const message of due) {
      const now = clock.now();
      // Another sender took it, or it was discarded or held since the list was read.
      const until = new Date(now.getTime() + CLAIM_MS).toISOString();
      if (!(await store.outbox.claim(message.id, now.toISOString(), until, SENDER))) continue;
      const attempts = message.attempts + 1;
      try {
        await transport.send(message);
        await store.outbox.markSent(message.id, clock.now().toISOString(), attempts);
        report.sent++;
        log.info('message sent', {
          id: message.id,
          kind: message.kind,
          channel,
          to: message.envelope.to.length,
        });
        continue;
      } catch (err: unknown) {
        const failure = err instanceof DeliveryError ? err : new DeliveryError(errorMessage(err), 'retry');
        const refusal = failure.refusal;
        if (holdsAll(refusal)) {
          // Not this message's fault: it keeps its attempts and its place, and the round ends.
          // A service that asked for a pause (Retry-After) gets it before this message.
          if (refusal === 'throttled' && failure.retryAfterMs !== undefined) {
            const next = new Date(clock.now().getTime() + failure.retryAfterMs);
            await store.outbox.markRetry(message.id, message.attempts, next.toISOString(), failure.message);
          } else {
            await store.outbox.markWaiting(message.id, failure.message);
          }
          report.retrying++;
          report.stopped = { reason: failure.message, refusal };
          return report;
        }
        if (failure.refusal === 'message' || attempts >= options.maxAttempts) {
          await store.outbox.markFailed(message.id, attempts, failure.message);
          report.failed++;
          log.error('message failed for good', { id: message.id, attempts, error: failure.message });
        } else {
          // The outbox's back-off, and never sooner than the service asked (Retry-After).
          const wait = Math.max(failure.retryAfterMs ?? 0, backoffMs(attempts, options.retryBaseMs));
          const next = new Date(clock.now().getTime() + wait);
          await store.outbox.markRetry(message.id, attempts, next.toISOString(), failure.message);
          report.retrying++;
          log.warn('message not sent; will retry', {
            id: message.id,
            attempts,
            next: next.toISOString(),
            error: failure.message,
          });
        }
      }
    }
  }
}

/** Every channel's round but mail's, one after another; each stops only itself. */
export async function deliverChannels(
  store: Pick<StateStore, 'outbox'>,
  transports: ReadonlyMap<string, Transport>,
  clock: Clock,
  log: Logger,
  options: DeliveryOptions,
): Promise<Map<string, DeliveryReport>> {
  const reports = new Map<string, DeliveryReport>();
  for (const [channel, transport] of transports) {
    reports.set(channel, await deliverDue(store, transport, clock, log.child({ channel }), options, channel));
  }
  return reports;
}
