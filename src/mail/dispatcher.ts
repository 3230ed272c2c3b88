/**
 * Sends what is due in the outbox, one message at a time through one pooled transport, and
 * records each outcome as it happens. A message the server refuses for good (5xx) fails at
 * once; anything else is retried with exponential back-off until delivery.maxAttempts. When
 * the server cannot be reached at all, the round stops after that message: the rest wait,
 * their attempts untouched, so an outage delays mail and loses none.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { createTransport } from 'nodemailer';

import type { Microsoft365Config, SmtpConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { OutboxMessage } from '../store/ports.js';
import type { StateStore } from '../store/ports.js';
import { classifySmtpError, smtpTransport } from './transport.js';

/** Where messages go: an SMTP server, or .eml files (delivery.dryRun). */
export interface Mailer {
  send(message: OutboxMessage): Promise<void>;
  close(): void;
  /** Where messages end up, for humans: "smtp.example.com:587" or a directory. */
  readonly target: string;
}

/** Headers every notification carries: it is automatic mail, not to be auto-answered. */
const AUTOMATIC = { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' };

/** What nodemailer is given for a message: the same headers whichever way it is sent. */
export function mailOptions(message: OutboxMessage) {
  return {
    from: message.envelope.from,
    to: message.envelope.to,
    cc: message.envelope.cc,
    subject: message.subject,
    text: message.text,
    html: message.html,
    messageId: message.messageId,
    date: new Date(message.createdAt),
    headers: AUTOMATIC,
  };
}

export function smtpMailer(config: SmtpConfig, microsoft365?: Microsoft365Config): Mailer {
  const transport = smtpTransport(config, { pool: true, microsoft365 });
  return {
    target: `${config.host}:${config.port}`,
    async send(message) {
      try {
        await transport.sendMail(mailOptions(message));
      } catch (err: unknown) {
        throw new DeliveryError(classifySmtpError(err, config).message, err);
      }
    },
    close() {
      transport.close();
    },
  };
}

/** delivery.dryRun: each message becomes `<dir>/<id>.eml`, exactly as it would be sent. */
export function emlMailer(dir: string): Mailer {
  const transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    target: dir,
    async send(message) {
      const info = await transport.sendMail(mailOptions(message));
      const raw: unknown = info.message;
      if (!Buffer.isBuffer(raw)) throw new Error('nodemailer did not return the message as a buffer');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, `${String(message.id).padStart(6, '0')}.eml`), raw, { mode: 0o600 });
    },
    close() {
      transport.close();
    },
  };
}

/**
 * nodemailer's codes for a session that could not be had (connection, TLS, authentication),
 * as opposed to a message the server would not take (EENVELOPE, EMESSAGE, a reply code).
 */
const SERVER_DOWN_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EAUTH',
  'ECONNREFUSED',
]);

/** A failed send, with what the server said and whether retrying the same message can help. */
export class DeliveryError extends Error {
  /** The server refused this message for good (a 5xx reply): retrying cannot help. */
  readonly permanent: boolean;
  /** The server could not be reached or refused the session: other messages would fail too. */
  readonly serverDown: boolean;
  /** The server said when to try again (Retry-After), instead of the usual back-off. */
  retryAfterMs: number | undefined;

  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.retryAfterMs = undefined;
    const code = (cause as { responseCode?: unknown }).responseCode;
    this.permanent = typeof code === 'number' && code >= 500 && code < 600 && code !== 530 && code !== 535;
    const errorCode = (cause as { code?: unknown }).code;
    this.serverDown =
      code === 421 ||
      code === 530 ||
      code === 535 ||
      (typeof code !== 'number' && typeof errorCode === 'string' && SERVER_DOWN_CODES.has(errorCode));
  }
}

export interface DeliveryOptions {
  maxAttempts: number;
  /** The first retry waits this long; each further one twice as long, up to an hour. */
  retryBaseMs: number;
}

export interface DeliveryReport {
  sent: number;
  retrying: number;
  failed: number;
  /** Set when the round stopped because the server could not be reached. */
  serverDown: string | null;
}

const MAX_BACKOFF_MS = 3_600_000;

export function backoffMs(attempts: number, baseMs: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempts - 1));
}

export async function deliverDue(
  store: Pick<StateStore, 'outbox'>,
  mailer: Mailer,
  clock: Clock,
  log: Logger,
  options: DeliveryOptions,
): Promise<DeliveryReport> {
  const report: DeliveryReport = { sent: 0, retrying: 0, failed: 0, serverDown: null };
  for (;;) {
    const due = store.outbox.due(clock.now().toISOString(), 100);
    if (due.length === 0) return report;
    for (const message of due) {
      const attempts = message.attempts + 1;
      try {
        await mailer.send(message);
        store.outbox.markSent(message.id, clock.now().toISOString(), attempts);
        report.sent++;
        log.info('message sent', { id: message.id, kind: message.kind, to: message.envelope.to.length });
        continue;
      } catch (err: unknown) {
        const failure = err instanceof DeliveryError ? err : new DeliveryError(errorMessage(err), err);
        if (failure.serverDown) {
          // Not this message's fault: it stays first in line, its attempts untouched, and the
          // round ends (the next poll tries again).
          store.outbox.markWaiting(message.id, failure.message);
          report.retrying++;
          report.serverDown = failure.message;
          return report;
        }
        if (failure.permanent || attempts >= options.maxAttempts) {
          store.outbox.markFailed(message.id, attempts, failure.message);
          report.failed++;
          log.error('message failed for good', { id: message.id, attempts, error: failure.message });
        } else {
          const wait = failure.retryAfterMs ?? backoffMs(attempts, options.retryBaseMs);
          const next = new Date(clock.now().getTime() + wait);
          store.outbox.markRetry(message.id, attempts, next.toISOString(), failure.message);
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
