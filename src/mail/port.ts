/**
 * The delivery port: where a rendered message goes. One implementation per way out, chosen
 * by the config in `transports.ts`: SMTP (with a password or XOAUTH2), Microsoft Graph, or
 * .eml files for a dry run. Each says what became of a message in the same terms (a receipt,
 * or a DeliveryError naming whose fault it is), so the outbox, the daemon's health and the
 * commands treat every transport alike; a chat or SIEM channel is one more implementation.
 */
import type { NewMessage } from '../store/ports.js';

/** What a transport is given: a message as the outbox keeps it, with its place there if any. */
export type Letter = Pick<
  NewMessage,
  'envelope' | 'subject' | 'text' | 'html' | 'messageId' | 'createdAt'
> & {
  id?: number;
  /** The template kind; for a SIEM record, the event type. */
  kind?: string;
  protectedGroup?: boolean;
};

/** What the far end said on taking a message: an SMTP reply, a Graph request-id. */
export interface Receipt {
  answer: string;
}

export interface Transport {
  /** Its name in a command's output: "smtp", "graph", "eml". */
  readonly name: string;
  /** Where messages end up, for humans: "smtp.example.com:587", "Microsoft Graph as a@b.c". */
  readonly target: string;
  /** Who takes the mail, in a sentence: "the SMTP server", "Microsoft Graph". */
  readonly service: string;
  send(letter: Letter): Promise<Receipt>;
  /**
   * Everything up to sending, without sending (a login, a token), for check-config --connect
   * and the daemon's start. Resolves with what was proven; throws DeliveryError.
   */
  check(): Promise<string>;
  close(): void;
}

/**
 * Why a message did not go, as the outbox must act on it:
 * - `message`: this message cannot be sent (a refused recipient); the others go on.
 * - `retry`: this message may go later (a 4xx reply, a Graph 5xx); its attempts count.
 * - `throttled`: the service asks adnotify to slow down; nothing more is sent this round and
 *   this message waits for the time asked (Retry-After), its attempts untouched.
 * - `unreachable`: no session could be had (network, TLS, the server down): every message
 *   waits, attempts untouched, and the next round tries again.
 * - `credentials`: the service refused adnotify itself (a password, a token, the app's right
 *   to send as the mailbox). Every message waits; trying again cannot help until the config
 *   is fixed, so a daemon stops trying until its config is reloaded.
 */
export type Refusal = 'message' | 'retry' | SessionRefusal;

/** The refusals that are the session's fault, not the message's: every message waits. */
export type SessionRefusal = 'throttled' | 'unreachable' | 'credentials';

export function holdsAll(refusal: Refusal): refusal is SessionRefusal {
  return refusal === 'unreachable' || refusal === 'credentials' || refusal === 'throttled';
}

export class DeliveryError extends Error {
  readonly refusal: Refusal;
  /** The service said when to try again (Retry-After), instead of the usual back-off. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    refusal: Refusal,
    options: { cause?: unknown; retryAfterMs?: number | undefined } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'DeliveryError';
    this.refusal = refusal;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Headers every notification carries: it is automatic mail, not to be auto-answered. */
const AUTOMATIC = { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' };

/** What nodemailer is given for a letter: the same headers whichever way it is sent. */
export function mailOptions(letter: Letter) {
  return {
    from: letter.envelope.from,
    to: letter.envelope.to,
    cc: letter.envelope.cc,
    subject: letter.subject,
    text: letter.text,
    html: letter.html,
    messageId: letter.messageId,
    date: new Date(letter.createdAt),
    headers: AUTOMATIC,
  };
}
