/**
 * What each channel's transport makes of its endpoint's answers, against loopback servers
 * speaking the real protocols (HTTPS with a test CA, syslog over TCP+TLS, TCP and UDP, a
 * file): 2xx taken; 429 and 5xx retried with the outbox's back-off and never sooner than
 * Retry-After; another 4xx fails that item and keeps the answer; no answer at all is an
 * outage that holds every item, attempts untouched, in order. The outbox is the in-memory
 * one (the SQLite one answers the same, test/unit/storePorts.test.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { channelTransports } from '../../src/channels/transports.js';
import type { Config } from '../../src/config/schema.js';
import { deliverDue } from '../../src/mail/dispatcher.js';
import { MemoryStore } from '../../src/store/memory/store.js';
import type { NewMessage, OutboxMessage } from '../../src/store/ports.js';
import { tempDir } from '../support/cli.js';
import { ChannelReceiver, loopbackCertificate, SyslogReceiver, type TestCa } from '../support/receivers.js';
import { quietLogger } from '../support/quietLogger.js';

const T0 = new Date('2026-12-04T10:00:00.000Z');
const clock = { now: () => T0 };
const options = { maxAttempts: 5, retryBaseMs: 60_000 };
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const log = quietLogger();

function item(channel: string, n: number, more: Partial<NewMessage> = {}): NewMessage {
  return {
    cycleId: null,
    createdAt: T0.toISOString(),
    status: 'pending',
    kind: 'object.modified',
    objectGuid: null,
    messageId: `evt_${n}`,
    envelope: { from: '', to: [], cc: [] },
    subject: `item ${n}`,
    text: JSON.stringify({ id: n, type: 'object.modified' }),
    html: '',
    channel,
    ...more,
  };
}

type ChannelsConfig = Pick<Config, 'channels' | 'siem' | 'delivery'>;

/** The transport of one configured channel (its name) at `url`. */
function chatTransport(
  type: 'teams' | 'slack' | 'webhook',
  name: string,
  url: string,
  secret: string | null = null,
) {
  const config = {
    channels: [{ name, type, url, secret, events: ['*'], protectedOnly: false }],
    siem: undefined,
    delivery: { dryRun: false },
  } as unknown as ChannelsConfig;
  return channelTransports(config, tempDir()).get(name)!;
}

/** The transport of a SIEM sink: siem.syslog at `syslog`, or siem.file at `file`. */
function siemTransport(siem: { syslog?: string; caFile?: string; file?: string; fileMaxBytes?: number }) {
  const config = {
    channels: [],
    siem: { syslog: null, caFile: null, file: null, fileMaxBytes: 1_000_000, fileKeep: 2, ...siem },
    delivery: { dryRun: false },
  } as unknown as ChannelsConfig;
  return channelTransports(config, tempDir()).get(siem.file ? 'siem.file' : 'siem.syslog')!;
}

describe('channel transports against loopback endpoints', () => {
  let ca: TestCa;
  const defaults = getCACertificates('default');
  beforeAll(() => {
    ca = loopbackCertificate();
    // This process trusts the test CA as NODE_EXTRA_CA_CERTS would make a daemon trust it.
    setDefaultCACertificates([...defaults, readFileSync(ca.caFile, 'utf8')]);
  });
  afterAll(() => {
    setDefaultCACertificates(defaults);
  });

  async function teamsChannel() {
    const receiver = await ChannelReceiver.start('teams', { tls: ca });
    const transport = chatTransport('teams', 'secops', receiver.url());
    return { receiver, transport };
  }

  const KINDS = [
    ['teams', 'Teams'],
    ['slack', 'Slack'],
    ['webhook', 'Webhook'],
  ] as const;
  it.each(KINDS)(
    'HTTPS async (%s): 2xx is sent, 429 waits at least Retry-After, 5xx backs off, another 4xx fails with the answer kept',
    async (kind, shown) => {
      const receiver = await ChannelReceiver.start(kind, { tls: ca, secret: SECRET });
      const transport = chatTransport(kind, 'secops', receiver.url(), kind === 'webhook' ? SECRET : null);
      try {
        const store = new MemoryStore();
        const ids = await Promise.all([1, 2, 3, 4].map((n) => store.outbox.add(item('secops', n))));
        receiver.answers.push(
          { status: kind === 'slack' ? 200 : 202 },
          { status: 429, headers: { 'retry-after': '300' } },
          { status: 503, body: 'busy' },
          { status: 400, body: 'Bad payload: card too large' },
        );
        const report = await deliverDue(store, transport, clock, log, options, 'secops');
        expect(report).toMatchObject({ sent: 1, retrying: 2, failed: 1, stopped: null });
        const [sent, throttled, busy, refused] = (await Promise.all(
          ids.map((id) => store.outbox.get(id)),
        )) as [OutboxMessage, OutboxMessage, OutboxMessage, OutboxMessage];
        expect(sent.status).toBe('sent');
        expect(throttled).toMatchObject({
          status: 'pending',
          attempts: 1,
          nextAttemptAt: '2026-12-04T10:05:00.000Z',
        });
        expect(busy).toMatchObject({
          status: 'pending',
          attempts: 1,
          nextAttemptAt: '2026-12-04T10:01:00.000Z',
        });
        expect(busy.lastError).toMatch(/answered 503: busy; retried/);
        expect(refused).toMatchObject({ status: 'failed', attempts: 1 });
        expect(refused.lastError).toMatch(
          new RegExp(
            `^${shown} channel secops \\(127\\.0\\.0\\.1:\\d+\\) answered 400: Bad payload: card too large`,
          ),
        );
        // The URL's path is the channel's key: no error quotes it.
        for (const m of [throttled, busy, refused]) expect(m.lastError).not.toMatch(/T0KEN|s3cr3t/);
      } finally {
        transport.close();
        await receiver.stop();
      }
    },
  );

  it('HTTPS: an endpoint that does not answer holds every item, attempts untouched, in order', async () => {
    const { receiver, transport } = await teamsChannel();
    await receiver.stop();
    const store = new MemoryStore();
    const ids = await Promise.all([1, 2].map((n) => store.outbox.add(item('secops', n))));
    const report = await deliverDue(store, transport, clock, log, options, 'secops');
    expect(report.stopped).toMatchObject({ refusal: 'unreachable' });
    expect(report.stopped?.reason).toMatch(
      /Teams channel secops \(127\.0\.0\.1:\d+\) could not be reached: .*ECONNREFUSED/,
    );
    expect(await Promise.all(ids.map((id) => store.outbox.get(id)))).toMatchObject([
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 0 },
    ]);
  });

  it('HTTPS: a certificate from an unknown CA is refused (TLS is verified)', async () => {
    const other = loopbackCertificate();
    const receiver = await ChannelReceiver.start('slack', { tls: other });
    const transport = chatTransport('slack', 'chat', receiver.url());
    try {
      const store = new MemoryStore();
      await store.outbox.add(item('chat', 1));
      const report = await deliverDue(store, transport, clock, log, options, 'chat');
      expect(report.stopped?.reason).toMatch(
        /could not be reached: .*(self-signed|unable to verify|UNABLE_TO_VERIFY)/i,
      );
      expect(receiver.received).toEqual([]);
    } finally {
      await receiver.stop();
    }
  });

  it('webhook: signed the Standard Webhooks way, the same webhook-id on a retry, the library verifies it', async () => {
    const receiver = await ChannelReceiver.start('webhook', { tls: ca, secret: SECRET });
    const transport = chatTransport('webhook', 'automation', receiver.url(), SECRET);
    try {
      const store = new MemoryStore();
      const id = await store.outbox.add(item('automation', 7));
      receiver.answers.push({ status: 500 });
      await deliverDue(store, transport, clock, log, options, 'automation');
      const later = { now: () => new Date(T0.getTime() + 120_000) };
      await deliverDue(store, transport, later, log, options, 'automation');
      expect(await store.outbox.get(id)).toMatchObject({ status: 'sent', attempts: 2 });
      expect(receiver.received.map((r) => r.problems)).toEqual([[], []]);
      expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual(['evt_7', 'evt_7']);
      expect(receiver.received[0]?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(receiver.received[0]?.body).toBe(JSON.stringify({ id: 7, type: 'object.modified' }));
    } finally {
      await receiver.stop();
    }
  });

  it('syslog: RFC 5424 over TCP+TLS and TCP (octet counting) and UDP (a datagram a record), in order', async () => {
    for (const scheme of ['tcp+tls', 'tcp', 'udp'] as const) {
      const receiver = await SyslogReceiver.start(scheme, ca);
      const transport = siemTransport({ syslog: receiver.url(), caFile: ca.caFile });
      try {
        const store = new MemoryStore();
        const long = 'x'.repeat(5000);
        await store.outbox.add(item('siem.syslog', 1, { kind: 'group.member.added', protectedGroup: true }));
        await store.outbox.add(
          item('siem.syslog', 2, { text: JSON.stringify({ id: 2, v: `line\nbreak ünïcode ${long}` }) }),
        );
        const report = await deliverDue(store, transport, clock, log, options, 'siem.syslog');
        expect(report, scheme).toMatchObject({ sent: 2, stopped: null });
        for (let i = 0; i < 50 && receiver.records.length < 2; i++)
          await new Promise((r) => setTimeout(r, 20));
        const records = receiver.parsed();
        expect(receiver.badFrames, scheme).toEqual([]);
        expect(
          records.map((r) => r.msgid),
          scheme,
        ).toEqual(['group.member.added', 'object.modified']);
        // Protected groups are warnings (4), the rest notices (5); facility 13, log audit.
        expect(records.map((r) => r.pri)).toEqual([13 * 8 + 4, 13 * 8 + 5]);
        expect(records[0]).toMatchObject({
          timestamp: T0.toISOString(),
          app: 'adnotify',
          procid: String(process.pid),
        });
        expect(JSON.parse(records[1]!.msg)).toEqual({ id: 2, v: `line\nbreak ünïcode ${long}` });
      } finally {
        transport.close();
        await receiver.stop();
      }
    }
  });

  it('syslog over UDP: an event too large for a datagram goes as its identity, marked truncated, and the rest follow', async () => {
    const receiver = await SyslogReceiver.start('udp');
    const transport = siemTransport({ syslog: receiver.url() });
    try {
      const store = new MemoryStore();
      const huge = {
        id: 1,
        cycle: 3,
        at: T0.toISOString(),
        type: 'object.modified',
        object: { dn: 'CN=X' },
        actor: null,
        changes: [{ attribute: 'description', before: [], after: ['z'.repeat(200_000)] }],
      };
      await store.outbox.add(item('siem.syslog', 1, { text: JSON.stringify(huge) }));
      await store.outbox.add(item('siem.syslog', 2));
      expect(await deliverDue(store, transport, clock, log, options, 'siem.syslog')).toMatchObject({
        sent: 2,
        stopped: null,
      });
      for (let i = 0; i < 50 && receiver.records.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      const [first, second] = receiver.parsed();
      // The event's identity, without its changes, marked truncated.
      const identity: Partial<typeof huge> = { ...huge };
      delete identity.changes;
      const cut = JSON.parse(first!.msg) as Record<string, unknown>;
      expect(cut).toEqual({ ...identity, truncated: true, bytes: cut['bytes'] });
      expect(cut['bytes']).toBeGreaterThan(200_000);
      expect(JSON.parse(second!.msg)).toEqual({ id: 2, type: 'object.modified' });
    } finally {
      transport.close();
      await receiver.stop();
    }
  });

  it('syslog over TLS refuses a receiver whose certificate siem.caFile does not vouch for', async () => {
    const receiver = await SyslogReceiver.start('tcp+tls', loopbackCertificate());
    const transport = siemTransport({ syslog: receiver.url(), caFile: ca.caFile });
    try {
      const store = new MemoryStore();
      await store.outbox.add(item('siem.syslog', 1));
      const report = await deliverDue(store, transport, clock, log, options, 'siem.syslog');
      expect(report.stopped?.refusal).toBe('unreachable');
      expect(receiver.records).toEqual([]);
    } finally {
      transport.close();
      await receiver.stop();
    }
  });

  it('the SIEM file: a file that cannot be written holds the records, attempts untouched, and says why', async () => {
    const blocker = join(tempDir(), 'not-a-directory');
    writeFileSync(blocker, '');
    const transport = siemTransport({ file: join(blocker, 'events.jsonl') });
    const store = new MemoryStore();
    const ids = await Promise.all([1, 2].map((n) => store.outbox.add(item('siem.file', n))));
    const report = await deliverDue(store, transport, clock, log, options, 'siem.file');
    expect(report.stopped?.reason).toMatch(
      /the SIEM file .*not-a-directory\/events\.jsonl could not be written: .*(ENOTDIR|EEXIST)/,
    );
    expect(await Promise.all(ids.map((id) => store.outbox.get(id)))).toMatchObject([
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 0 },
    ]);
  });

  it('the SIEM file: one event JSON a line, rotated by size, nothing lost', async () => {
    const file = join(tempDir(), 'siem', 'events.jsonl');
    const transport = siemTransport({ file, fileMaxBytes: 1024 });
    const store = new MemoryStore();
    for (let n = 1; n <= 40; n++)
      await store.outbox.add(item('siem.file', n, { text: JSON.stringify({ id: n, pad: 'p'.repeat(60) }) }));
    expect((await deliverDue(store, transport, clock, log, options, 'siem.file')).sent).toBe(40);
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trimEnd().split('\n') : []);
    const ids = [`${file}.2`, `${file}.1`, file]
      .flatMap(read)
      .map((l) => (JSON.parse(l) as { id: number }).id);
    // Each file stays under the size; the newest three files hold the newest records, in order.
    expect(ids).toEqual(ids.slice().sort((a, b) => a - b));
    expect(ids.at(-1)).toBe(40);
    expect(readFileSync(file).length).toBeLessThanOrEqual(1024);
    expect(existsSync(`${file}.3`)).toBe(false);
  });
});
