/**
 * The mail commands of spec/cli.md: delivering the outbox (after `once`, `outbox retry`,
 * `outbox release`), inspecting it, and `test-email`.
 */
import type { LoadedConfig } from '../config/load.js';
import { parseDuration } from '../core/duration.js';
import { TemporaryError, UsageError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { MAIL } from '../core/channels.js';
import { ORPHANS_FIX } from '../daemon/delivery.js';
import { deliverChannels, deliverDue } from '../mail/dispatcher.js';
import { newMessageId } from '../mail/messageId.js';
import { commandError } from '../mail/transports.js';
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
  const transport = ctx.transport(loaded);
  const channels = ctx.channels(loaded);
  const options = {
    maxAttempts: loaded.config.delivery.maxAttempts,
    retryBaseMs: parseDuration(loaded.config.delivery.retryDelay) ?? 60_000,
  };
  try {
    const report = await deliverDue(store, transport, ctx.clock, log.child({ component: 'mail' }), options);
    const reports = await deliverChannels(
      store,
      channels,
      ctx.clock,
      log.child({ component: 'channels' }),
      options,
    );
    const down: string[] = [];
    for (const [channel, r] of reports) {
      // How many wait (pending, whenever due), counted up to a bound: a backlog is not read whole.
      const left = (await store.outbox.due(FOREVER, WAITING_SHOWN + 1, channel)).length;
      if (r.sent + r.retrying + r.failed > 0 || left > 0) {
        ctx.out(
          `${channel}: ${r.sent} sent via ${channels.get(channel)?.target ?? channel}; ${left > WAITING_SHOWN ? `over ${WAITING_SHOWN}` : left} waiting, ${r.failed} failed now`,
        );
      }
      if (r.stopped !== null) down.push(`${channel}: ${r.stopped.reason}`);
    }
    for (const [channel, n] of await store.outbox.waitingByChannel()) {
      if (channel !== MAIL && !channels.has(channel)) ctx.out(`${channel}: ${n} ${ORPHANS_FIX}`);
    }
    const counts = await store.outbox.counts();
    if (report.sent + report.retrying + report.failed > 0 || counts.pending + counts.held > 0) {
      const where = loaded.config.delivery.dryRun
        ? `written as .eml files to ${transport.target}`
        : `via ${transport.target}`;
      ctx.out(
        `mail: ${report.sent} sent ${where}; ${counts.pending} waiting, ${counts.held} held, ${report.failed} failed now`,
      );
    }
    if (counts.held > 0) {
      ctx.out(`mail: ${counts.held} messages held by the flood guard; "adnotify outbox release" sends them`);
    }
    if (report.stopped === null && down.length > 0) {
      throw new TemporaryError(
        `${down.join('; ')}; the items wait in the outbox, in order, and are sent by the next run`,
      );
    }
    if (report.stopped !== null) {
      const what =
        report.stopped.refusal === 'credentials'
          ? `${transport.service} refused adnotify's credentials`
          : `${transport.service} did not take messages`;
      throw new TemporaryError(
        `mail: ${what} (${report.stopped.reason}); ${counts.pending} wait in the outbox and are retried by the next run`,
      );
    }
  } finally {
    transport.close();
    for (const t of channels.values()) t.close();
  }
}

const FOREVER = '9999-12-31T00:00:00.000Z';
const WAITING_SHOWN = 1000;

const STATUSES: readonly OutboxStatus[] = ['pending', 'held', 'digest', 'sent', 'failed'];

export async function outboxList(
  ctx: Context,
  global: GlobalOptions,
  options: { status?: string; json?: boolean },
): Promise<void> {
  const status = options.status;
  if (status !== undefined && !STATUSES.includes(status as OutboxStatus)) {
    throw new UsageError(`--status ${JSON.stringify(status)}: expected one of ${STATUSES.join(', ')}`);
  }
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) {
    ctx.out(options.json === true ? '[]' : 'outbox: empty (no state yet)');
    return;
  }
  const store = await ctx.openStore(loaded);
  try {
    const messages = await store.outbox.list(status as OutboxStatus | undefined);
    if (options.json === true) {
      ctx.out(
        JSON.stringify(
          messages.map((m) => ({
            id: m.id,
            channel: m.channel,
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
      const to = m.channel === MAIL ? [...m.envelope.to, ...m.envelope.cc].join(', ') : m.channel;
      ctx.out(
        `#${m.id}  ${m.status.padEnd(7)} ${m.kind.padEnd(11)} cycle ${m.cycleId ?? '-'}  attempts ${m.attempts}  ${m.createdAt}  to ${safeText(to, 200)}  "${safeText(m.subject, 120)}"`,
      );
      if (m.lastError !== null) ctx.out(`      last error: ${safeText(m.lastError, 300)}`);
    }
  } finally {
    await store.close();
  }
}

async function changeAndDeliver(
  ctx: Context,
  global: GlobalOptions,
  change: (store: StateStore, now: string) => Promise<string>,
): Promise<void> {
  const loaded = ctx.config(global.config);
  const log = ctx.logger(loaded);
  const store = await ctx.openStore(loaded);
  try {
    ctx.out(await change(store, ctx.clock.now().toISOString()));
    await deliver(ctx, loaded, store, log);
  } finally {
    await store.close();
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
  await changeAndDeliver(ctx, global, async (store, now) => {
    const count = await store.outbox.retry(which, now);
    if (count === 0 && which !== 'all') {
      const message = await store.outbox.get(which);
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
    async (store, now) =>
      `outbox: ${await store.outbox.release(now, cycle)} held messages${cycle === undefined ? '' : ` of cycle ${cycle}`} released`,
  );
}

/** `outbox discard ID|--held|--failed`: drop messages that must not be sent. */
export async function outboxDiscard(
  ctx: Context,
  global: GlobalOptions,
  id: string | undefined,
  options: { held?: boolean; failed?: boolean },
): Promise<void> {
  const given = [id !== undefined, options.held === true, options.failed === true].filter(Boolean).length;
  if (given !== 1) throw new UsageError('outbox discard: give one message ID, --held or --failed');
  const which = options.held === true ? 'held' : options.failed === true ? 'failed' : Number(id);
  if (typeof which === 'number' && !Number.isInteger(which)) {
    throw new UsageError(`outbox discard: "${id ?? ''}" is not a message ID`);
  }
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) throw new UsageError('outbox discard: there is no state yet, so no message');
  const store = await ctx.openStore(loaded);
  try {
    const count = await store.outbox.discard(which, ctx.clock.now().toISOString());
    if (count === 0 && typeof which === 'number') {
      const message = await store.outbox.get(which);
      if (message?.status === 'pending') {
        throw new TemporaryError(
          `outbox: message #${which} is being sent right now (until ${message.claimedUntil ?? '?'}); not discarded`,
        );
      }
      throw new UsageError(
        message ? `outbox: message #${which} was sent already` : `outbox: no message #${which}`,
      );
    }
    ctx
      .logger(loaded)
      .warn('messages discarded from the outbox', { which: String(which), count, by: ctx.user });
    ctx.out(`outbox: ${count} ${typeof which === 'number' ? '' : `${which} `}messages discarded`);
  } finally {
    await store.close();
  }
}

export async function testEmail(ctx: Context, global: GlobalOptions, options: { to: string }): Promise<void> {
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(options.to)) {
    throw new UsageError(`--to ${JSON.stringify(options.to)}: expected an email address`);
  }
  const loaded = ctx.config(global.config);
  const transport = ctx.transport(loaded, { real: true });
  const rendered = ctx.renderer(loaded).render('test', {
    when: ctx.clock.now().toISOString(),
    server: transport.target,
  });
  const from = loaded.config.smtp.from;
  try {
    const receipt = await transport.send({
      envelope: { from, to: [options.to], cc: [] },
      ...rendered,
      messageId: newMessageId(from),
      createdAt: ctx.clock.now().toISOString(),
    });
    ctx.out(`test message sent to ${options.to} via ${transport.target}; ${receipt.answer}`);
  } catch (err: unknown) {
    throw commandError(err);
  } finally {
    transport.close();
  }
}
