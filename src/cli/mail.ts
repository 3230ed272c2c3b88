/**
 * The mail commands of spec/cli.md: delivering the outbox (after `once`, `outbox retry`,
 * `outbox release`), inspecting it, and `test-email`.
 */
import { createTransport } from 'nodemailer';

import type { LoadedConfig } from '../config/load.js';
import { parseDuration } from '../core/duration.js';
import { SmtpAuthError, SmtpError, TemporaryError, UsageError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { deliverDue } from '../mail/dispatcher.js';
import { graphSend, graphSender } from '../mail/graph.js';
import { classifySmtpError, smtpTransport } from '../mail/transport.js';
import type { OutboxStatus } from '../store/ports.js';
import type { StateStore } from '../store/ports.js';

import type { Context, GlobalOptions } from './context.js';
import { safeText } from './format.js';

/**
 * Sends every due message and prints what happened. When the SMTP server cannot be reached
 * the messages stay in the outbox for the next run, and this throws TemporaryError (75).
 */
export async function deliver(
  ctx: Context,
  loaded: LoadedConfig,
  store: StateStore,
  log: Logger,
): Promise<void> {
  const mailer = ctx.mailer(loaded);
  try {
    const report = await deliverDue(store, mailer, ctx.clock, log.child({ component: 'mail' }), {
      maxAttempts: loaded.config.delivery.maxAttempts,
      retryBaseMs: parseDuration(loaded.config.delivery.retryDelay) ?? 60_000,
    });
    const counts = store.outbox.counts();
    if (report.sent + report.retrying + report.failed > 0 || counts.pending + counts.held > 0) {
      const where = loaded.config.delivery.dryRun
        ? `written as .eml files to ${mailer.target}`
        : `via ${mailer.target}`;
      ctx.out(
        `mail: ${report.sent} sent ${where}; ${counts.pending} waiting, ${counts.held} held, ${report.failed} failed now`,
      );
    }
    if (counts.held > 0) {
      ctx.out(`mail: ${counts.held} messages held by the flood guard; "adnotify outbox release" sends them`);
    }
    if (report.serverDown !== null) {
      throw new TemporaryError(
        `mail: the SMTP server did not take messages (${report.serverDown}); ${counts.pending} wait in the outbox and are retried by the next run`,
      );
    }
  } finally {
    mailer.close();
  }
}

const STATUSES: readonly OutboxStatus[] = ['pending', 'held', 'sent', 'failed'];

export function outboxList(
  ctx: Context,
  global: GlobalOptions,
  options: { status?: string; json?: boolean },
): void {
  const status = options.status;
  if (status !== undefined && !STATUSES.includes(status as OutboxStatus)) {
    throw new UsageError(`--status ${JSON.stringify(status)}: expected one of ${STATUSES.join(', ')}`);
  }
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) {
    ctx.out(options.json === true ? '[]' : 'outbox: empty (no state yet)');
    return;
  }
  const store = ctx.openStore(loaded);
  try {
    const messages = store.outbox.list(status as OutboxStatus | undefined);
    if (options.json === true) {
      ctx.out(
        JSON.stringify(
          messages.map((m) => ({
            id: m.id,
            status: m.status,
            kind: m.kind,
            cycle: m.cycleId,
            object: m.objectGuid,
            createdAt: m.createdAt,
            envelope: m.envelope,
            subject: m.subject,
            messageId: m.messageId,
            attempts: m.attempts,
            nextAttemptAt: m.nextAttemptAt,
            lastError: m.lastError,
            sentAt: m.sentAt,
          })),
          null,
          2,
        ),
      );
      return;
    }
    if (messages.length === 0) ctx.out(`outbox: no${status ? ` ${status}` : ''} messages`);
    for (const m of messages) {
      const to = [...m.envelope.to, ...m.envelope.cc].join(', ');
      ctx.out(
        `#${m.id}  ${m.status.padEnd(7)} ${m.kind.padEnd(11)} cycle ${m.cycleId ?? '-'}  attempts ${m.attempts}  ${m.createdAt}  to ${safeText(to, 200)}  "${safeText(m.subject, 120)}"`,
      );
      if (m.lastError !== null) ctx.out(`      last error: ${safeText(m.lastError, 300)}`);
    }
  } finally {
    store.close();
  }
}

async function changeAndDeliver(
  ctx: Context,
  global: GlobalOptions,
  change: (store: StateStore, now: string) => string,
): Promise<void> {
  const loaded = ctx.config(global.config);
  const log = ctx.logger(loaded);
  const store = ctx.openStore(loaded);
  try {
    ctx.out(change(store, ctx.clock.now().toISOString()));
    await deliver(ctx, loaded, store, log);
  } finally {
    store.close();
  }
}

export async function outboxRetry(
  ctx: Context,
  global: GlobalOptions,
  id: string | undefined,
  options: { all?: boolean },
): Promise<void> {
  if ((id === undefined) === (options.all !== true)) {
    throw new UsageError('outbox retry: give a message ID or --all');
  }
  const which = options.all === true ? 'all' : Number(id);
  if (which !== 'all' && !Number.isInteger(which))
    throw new UsageError(`outbox retry: "${id ?? ''}" is not a message ID`);
  await changeAndDeliver(ctx, global, (store, now) => {
    const count = store.outbox.retry(which, now);
    if (count === 0 && which !== 'all') {
      const message = store.outbox.get(which);
      throw new UsageError(
        message
          ? `outbox: message #${which} is ${message.status}, not failed`
          : `outbox: no message #${which}`,
      );
    }
    return `outbox: ${count} failed messages queued again`;
  });
}

export async function outboxRelease(
  ctx: Context,
  global: GlobalOptions,
  options: { cycle?: string },
): Promise<void> {
  const cycle = options.cycle === undefined ? undefined : Number(options.cycle);
  if (cycle !== undefined && !Number.isInteger(cycle)) {
    throw new UsageError(`outbox release: --cycle "${options.cycle ?? ''}" is not a cycle number`);
  }
  await changeAndDeliver(
    ctx,
    global,
    (store, now) =>
      `outbox: ${store.outbox.release(now, cycle)} held messages${cycle === undefined ? '' : ` of cycle ${cycle}`} released`,
  );
}

/** `outbox discard ID|--held|--failed`: drop messages that must not be sent. */
export function outboxDiscard(
  ctx: Context,
  global: GlobalOptions,
  id: string | undefined,
  options: { held?: boolean; failed?: boolean },
): void {
  const given = [id !== undefined, options.held === true, options.failed === true].filter(Boolean).length;
  if (given !== 1) throw new UsageError('outbox discard: give one message ID, --held or --failed');
  const which = options.held === true ? 'held' : options.failed === true ? 'failed' : Number(id);
  if (typeof which === 'number' && !Number.isInteger(which)) {
    throw new UsageError(`outbox discard: "${id ?? ''}" is not a message ID`);
  }
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) throw new UsageError('outbox discard: there is no state yet, so no message');
  const store = ctx.openStore(loaded);
  try {
    const count = store.outbox.discard(which);
    if (count === 0 && typeof which === 'number') {
      const message = store.outbox.get(which);
      throw new UsageError(
        message ? `outbox: message #${which} was sent already` : `outbox: no message #${which}`,
      );
    }
    ctx
      .logger(loaded)
      .warn('messages discarded from the outbox', { which: String(which), count, by: ctx.user });
    ctx.out(`outbox: ${count} ${typeof which === 'number' ? '' : `${which} `}messages discarded`);
  } finally {
    store.close();
  }
}

export async function testEmail(ctx: Context, global: GlobalOptions, options: { to: string }): Promise<void> {
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(options.to)) {
    throw new UsageError(`--to ${JSON.stringify(options.to)}: expected an email address`);
  }
  const loaded = ctx.config(global.config);
  const smtp = loaded.config.smtp;
  const rendered = ctx.renderer(loaded).render('test', {
    when: ctx.clock.now().toISOString(),
    server: `${smtp.host}:${smtp.port}`,
  });
  const { microsoft365, delivery } = loaded.config;
  if (delivery.transport === 'graph' && microsoft365) {
    const sender = graphSender(microsoft365, smtp.from);
    const compose = createTransport({ streamTransport: true, buffer: true });
    try {
      const info = await compose.sendMail({
        from: smtp.from,
        to: options.to,
        ...rendered,
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
      const result = await graphSend(microsoft365, sender, info.message as Buffer).catch((err: unknown) => {
        // A refused token or mailbox is a credentials problem (77); anything else, unavailable (69).
        const refused = (err as { cause?: { code?: unknown } }).cause?.code === 'EAUTH';
        throw refused
          ? new SmtpAuthError(errorMessage(err), { cause: err })
          : new SmtpError(errorMessage(err), { cause: err });
      });
      ctx.out(
        `test message sent to ${options.to} through Microsoft Graph as ${sender}; request-id ${result.requestId ?? '(none)'}`,
      );
    } finally {
      compose.close();
    }
    return;
  }
  const transport = smtpTransport(smtp, { microsoft365 });
  try {
    const info = (await transport.sendMail({
      from: smtp.from,
      to: options.to,
      ...rendered,
      headers: { 'Auto-Submitted': 'auto-generated' },
    })) as { response?: string };
    ctx.out(
      `test message sent to ${options.to} via ${smtp.host}:${smtp.port}; the server said: ${info.response ?? 'OK'}`,
    );
  } catch (err: unknown) {
    throw classifySmtpError(err, smtp);
  } finally {
    transport.close();
  }
}
