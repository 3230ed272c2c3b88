/**
 * The outbox's rules for each way a transport can refuse a message (mail/port.ts), on the
 * memory store and a transport that answers as the test scripts it. The real transports
 * (SMTP, Graph, .eml) are proven against real servers in test/integration.
 */
import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { DeliveryRounds } from '../../src/daemon/delivery.js';
import { healthOf } from '../../src/daemon/health.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { createLogger } from '../../src/log/logger.js';
import { appBed } from '../support/appBed.js';
import { healthyFacts } from '../support/health.js';
import { quietLogger } from '../support/quietLogger.js';
import { deliverDue } from '../../src/mail/dispatcher.js';
import { DeliveryError, type Letter, type Refusal, type Transport } from '../../src/mail/port.js';
import { MemoryStore } from '../../src/store/memory/store.js';

const T0 = new Date('2026-12-02T10:00:00.000Z');

/** A transport that refuses the letters to addresses named in `script`, as scripted. */
function scripted(script: Record<string, { refusal: Refusal; retryAfterMs?: number }>) {
  const sent: string[] = [];
  const tried: string[] = [];
  const transport: Transport = {
    name: 'scripted',
    target: 'scripted',
    service: 'the scripted service',
    send(letter: Letter) {
      const to = letter.envelope.to[0] ?? '';
      tried.push(to);
      const refusal = script[to];
      if (refusal) {
        return Promise.reject(new DeliveryError(`refused ${to}`, refusal.refusal, refusal));
      }
      sent.push(to);
      return Promise.resolve({ answer: 'ok' });
    },
    check: () => Promise.resolve('ok'),
    close: () => undefined,
  };
  return { transport, sent, tried };
}

function outboxWith(...recipients: string[]): MemoryStore {
  const store = new MemoryStore();
  for (const to of recipients) {
    // The memory store writes at once: no need to wait for the promise.
    void store.outbox.add({
      cycleId: null,
      createdAt: T0.toISOString(),
      status: 'pending',
      kind: 'change',
      objectGuid: null,
      messageId: `<${to}>`,
      envelope: { from: 'adnotify@x.test', to: [to], cc: [] },
      subject: 's',
      text: 't',
      html: 'h',
    });
  }
  return store;
}

const log = quietLogger();
const options = { maxAttempts: 3, retryBaseMs: 60_000 };
const deliver = (store: MemoryStore, transport: Transport, at = T0) =>
  deliverDue(store, transport, { now: () => at }, log, options);
const row = async (store: MemoryStore, to: string) =>
  (await store.outbox.list()).find((m) => m.envelope.to[0] === to);

describe('deliverDue: what each refusal does to the outbox', () => {
  it('a message refused for itself fails at once; the others go out', async () => {
    const store = outboxWith('a@x.test', 'bad@x.test', 'c@x.test');
    const { transport, sent } = scripted({ 'bad@x.test': { refusal: 'message' } });
    const report = await deliver(store, transport);
    expect(report).toMatchObject({ sent: 2, failed: 1, stopped: null });
    expect(sent).toEqual(['a@x.test', 'c@x.test']);
    expect(await row(store, 'bad@x.test')).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('a message that may go later is retried after the back-off, attempts counted, up to maxAttempts', async () => {
    const store = outboxWith('slow@x.test', 'b@x.test');
    const { transport } = scripted({ 'slow@x.test': { refusal: 'retry' } });
    expect(await deliver(store, transport)).toMatchObject({ sent: 1, retrying: 1, stopped: null });
    expect(await row(store, 'slow@x.test')).toMatchObject({
      status: 'pending',
      attempts: 1,
      nextAttemptAt: '2026-12-02T10:01:00.000Z',
    });
    await deliver(store, transport, new Date('2026-12-02T10:01:00.000Z'));
    expect(await row(store, 'slow@x.test')).toMatchObject({
      attempts: 2,
      nextAttemptAt: '2026-12-02T10:03:00.000Z',
    });
    await deliver(store, transport, new Date('2026-12-02T10:03:00.000Z'));
    expect(await row(store, 'slow@x.test')).toMatchObject({ status: 'failed', attempts: 3 });
  });

  for (const refusal of ['unreachable', 'credentials'] as const) {
    it(`${refusal}: the round stops, every message waits with its attempts untouched`, async () => {
      const store = outboxWith('a@x.test', 'b@x.test', 'c@x.test');
      const { transport, tried } = scripted({ 'a@x.test': { refusal } });
      const report = await deliver(store, transport);
      expect(report.stopped).toEqual({ reason: 'refused a@x.test', refusal });
      expect(tried).toEqual(['a@x.test']);
      expect((await store.outbox.list()).map((m) => [m.status, m.attempts])).toEqual([
        ['pending', 0],
        ['pending', 0],
        ['pending', 0],
      ]);
      expect((await row(store, 'a@x.test'))?.lastError).toBe('refused a@x.test');
    });
  }

  it('throttled: the round stops and the message waits the time asked, its attempts untouched', async () => {
    const store = outboxWith('a@x.test', 'b@x.test');
    const { transport, tried } = scripted({ 'a@x.test': { refusal: 'throttled', retryAfterMs: 120_000 } });
    const report = await deliver(store, transport);
    expect(report.stopped?.refusal).toBe('throttled');
    expect(tried).toEqual(['a@x.test']);
    expect(await row(store, 'a@x.test')).toMatchObject({
      status: 'pending',
      attempts: 0,
      nextAttemptAt: '2026-12-02T10:02:00.000Z',
    });
    expect(await row(store, 'b@x.test')).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('a retry the service timed (Retry-After on a 5xx or 429) waits the back-off, and never less than asked', async () => {
    const store = outboxWith('a@x.test', 'b@x.test');
    const { transport } = scripted({
      'a@x.test': { refusal: 'retry', retryAfterMs: 5_000 },
      'b@x.test': { refusal: 'retry', retryAfterMs: 300_000 },
    });
    await deliver(store, transport);
    expect(await row(store, 'a@x.test')).toMatchObject({
      attempts: 1,
      nextAttemptAt: '2026-12-02T10:01:00.000Z',
    });
    expect(await row(store, 'b@x.test')).toMatchObject({
      attempts: 1,
      nextAttemptAt: '2026-12-02T10:05:00.000Z',
    });
  });
});

describe('deliverDue: each message is claimed before it is sent', () => {
  /** A transport that takes a moment per letter, so that two senders overlap, and can act mid-send. */
  function slow(during?: (to: string) => void | Promise<void>) {
    const sent: string[] = [];
    const transport: Transport = {
      name: 'slow',
      target: 'slow',
      service: 'the slow service',
      async send(letter: Letter) {
        const to = letter.envelope.to[0] ?? '';
        await during?.(to);
        await new Promise((resolve) => setTimeout(resolve, 5));
        sent.push(to);
        return { answer: 'ok' };
      },
      check: () => Promise.resolve('ok'),
      close: () => undefined,
    };
    return { transport, sent };
  }

  it('two senders at once (the daemon and a CLI delivery) send each message once', async () => {
    const store = outboxWith('a@x.test', 'b@x.test', 'c@x.test');
    const { transport, sent } = slow();

    const reports = await Promise.all([deliver(store, transport), deliver(store, transport)]);

    expect(sent.sort()).toEqual(['a@x.test', 'b@x.test', 'c@x.test']);
    expect(reports.map((r) => r.sent).reduce((a, b) => a + b)).toBe(3);
    expect(await store.outbox.counts()).toMatchObject({ pending: 0, sent: 3 });
  });

  it('a pending message discarded while a round runs is not sent', async () => {
    const store = outboxWith('a@x.test', 'b@x.test');
    const b = (await row(store, 'b@x.test'))!.id;
    const { transport, sent } = slow(async (to) => {
      if (to === 'a@x.test') expect(await store.outbox.discard(b, T0.toISOString())).toBe(1);
    });

    await deliver(store, transport);

    expect(sent).toEqual(['a@x.test']);
    expect((await store.outbox.list()).map((m) => m.envelope.to[0])).toEqual(['a@x.test']);
  });

  it('a message being sent cannot be discarded; a claim left by a sender that died expires', async () => {
    const store = outboxWith('a@x.test');
    const a = (await row(store, 'a@x.test'))!.id;
    expect(await store.outbox.claim(a, T0.toISOString(), '2026-12-02T10:01:00.000Z', 'other-host:1')).toBe(
      true,
    );
    expect(await store.outbox.claim(a, T0.toISOString(), '2026-12-02T10:01:00.000Z', 'other-host:1')).toBe(
      false,
    );
    expect(await store.outbox.discard(a, T0.toISOString())).toBe(0);
    expect(await store.outbox.due(T0.toISOString())).toEqual([]);

    const { transport, sent } = slow();
    await deliver(store, transport, new Date('2026-12-02T10:01:01.000Z'));
    expect(sent).toEqual(['a@x.test']);
  });
});

describe('DeliveryRounds: each channel on its own', () => {
  it('a SIEM sink that is down holds only its own items; /healthz and /metrics say so after three intervals, and clear', async () => {
    const store = outboxWith('a@x.test');
    const first = (await store.outbox.get(1))!;
    const add = (channel: string, n: number) =>
      store.outbox.add({
        ...first,
        channel,
        messageId: `evt_${n}`,
        status: 'pending',
        envelope: { from: '', to: [], cc: [] },
      });
    await add('siem.syslog', 1);
    await add('siem.syslog', 2);
    await add('chat', 3);
    const syslogDown = scripted({ '': { refusal: 'unreachable' } });
    const chat = scripted({});
    const mail = scripted({});
    const metrics = new Metrics(() => store);
    let now = T0;
    const clock = { now: () => now };
    const rounds = new DeliveryRounds(metrics, clock);
    const config = appBed('').config;
    const parts = {
      store,
      transport: mail.transport,
      channels: new Map([
        ['chat', chat.transport],
        ['siem.syslog', syslogDown.transport],
      ]),
      log,
      config,
    };
    // The SIEM records carry no recipient: the scripted sink refuses them all.
    await rounds.run(parts);
    expect((await store.outbox.list()).map((m) => `${m.channel} ${m.status} ${m.attempts}`)).toEqual([
      'mail sent 1',
      'siem.syslog pending 0',
      'siem.syslog pending 0',
      'chat sent 1',
    ]);
    // Only the first record was tried: the round of a sink that is down stops there, in order.
    expect(syslogDown.tried).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('adnotify_channel_down')).toMatch(
      /adnotify_channel_down\{channel="siem.syslog"\} 1/,
    );
    const health = () => healthOf(healthyFacts(now, { startedAt: T0, channelsDown: rounds.channelsDown }));
    expect(health().healthy).toBe(true);
    now = new Date(T0.getTime() + 180_000);
    await rounds.run(parts);
    expect(health().reasons).toEqual([
      expect.stringMatching(
        /^channel siem\.syslog: the scripted service has not taken items since 2026-12-02T10:00:00\.000Z: refused /,
      ),
    ]);
    // The sink is back: the records go, in order, and the health clears.
    parts.channels.set('siem.syslog', chat.transport);
    await rounds.run(parts);
    expect((await store.outbox.list()).every((m) => m.status === 'sent')).toBe(true);
    expect(health().healthy).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('adnotify_channel_sent_total')).toMatch(
      /adnotify_channel_sent_total\{channel="siem.syslog"\} 2/,
    );
  });

  it('items of a channel the config no longer has are named once in the log and on /healthz, not silently kept', async () => {
    const store = outboxWith('a@x.test');
    await store.outbox.add({
      ...(await store.outbox.get(1))!,
      status: 'pending',
      channel: 'gone',
      envelope: { from: '', to: [], cc: [] },
    });
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (c: Buffer) => lines.push(c.toString()));
    const logger = createLogger({ level: 'warn', format: 'json', file: null, secrets: [], stream });
    const rounds = new DeliveryRounds(new Metrics(() => store), { now: () => T0 });
    const parts = {
      store,
      transport: scripted({}).transport,
      channels: new Map(),
      log: logger,
      config: appBed('').config,
    };
    await rounds.run(parts);
    await rounds.run(parts);
    expect(rounds.orphans).toEqual(new Map([['gone', 1]]));
    expect(lines.filter((l) => l.includes('no longer configured'))).toHaveLength(1);
    expect(healthOf(healthyFacts(T0, { orphans: rounds.orphans })).reasons).toEqual([
      expect.stringMatching(
        /^1 items wait for channel gone, which is no longer configured: .*outbox discard/,
      ),
    ]);
    await store.outbox.discard(2, T0.toISOString());
    await rounds.run(parts);
    expect(rounds.orphans.size).toBe(0);
  });
});
