/**
 * What `adnotify run` tells operators over HTTP (http.listen): /metrics in the Prometheus
 * text format (prom-client) and /healthz, unhealthy when the last successful poll is too old,
 * the SMTP server has not taken mail for a while, or messages have failed.
 */
import type { TriggerState } from '../poll/trigger.js';
import { createServer, type Server } from 'node:http';

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { StateStore } from '../store/ports.js';

export class Metrics {
  readonly registry = new Registry();
  readonly cycleSeconds: Histogram;
  readonly cycles: Counter<'kind' | 'outcome'>;
  readonly events: Counter<'type'>;
  readonly sendFailures: Counter;
  readonly sent: Counter;
  readonly lastSuccess: Gauge;
  readonly leader: Gauge;
  readonly notificationConnected: Gauge;
  readonly triggeredCycles: Counter;
  readonly notifications: Counter;
  readonly smtpDown: Gauge;
  readonly mailRefused: Gauge;
  readonly snapshotObjects: Gauge;
  readonly outbox: Gauge<'status'>;
  readonly schedules: Gauge<'state'>;
  readonly channelSent: Counter<'channel'>;
  readonly channelFailures: Counter<'channel'>;
  readonly channelDown: Gauge<'channel'>;

  constructor(store: () => Pick<StateStore, 'snapshot' | 'outbox' | 'schedules'> | undefined) {
    const registers = [this.registry];
    this.cycleSeconds = new Histogram({
      name: 'adnotify_cycle_duration_seconds',
      help: 'Duration of poll cycles',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.cycles = new Counter({
      name: 'adnotify_cycles_total',
      help: 'Poll cycles by kind and outcome',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.events = new Counter({
      name: 'adnotify_events_total',
      help: 'Events derived, by type',
      labelNames: ['type'],
      registers,
    });
    this.sent = new Counter({ name: 'adnotify_mail_sent_total', help: 'Messages sent', registers });
    this.sendFailures = new Counter({
      name: 'adnotify_mail_send_failures_total',
      help: 'Failed send attempts (retried or failed for good)',
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'adnotify_last_success_timestamp_seconds',
      help: 'When the last poll cycle succeeded (Unix time)',
      registers,
    });
    this.leader = new Gauge({
      name: 'adnotify_leader',
      help: 'Whether this instance holds the leader lease and polls (1) or stands by (0); always 1 with SQLite',
      registers,
    });
    this.notificationConnected = new Gauge({
      name: 'adnotify_notification_connected',
      help: "Whether the DC's change-notification search is open (1) or not (0: poll.schedule alone drives cycles)",
      registers,
    });
    this.triggeredCycles = new Counter({
      name: 'adnotify_triggered_cycles_total',
      help: 'Cycles started by change notifications (besides those of poll.schedule)',
      registers,
    });
    this.notifications = new Counter({
      name: 'adnotify_notifications_total',
      help: 'Change notifications the DC sent (each a trigger, debounced into cycles)',
      registers,
    });
    this.smtpDown = new Gauge({
      name: 'adnotify_smtp_down',
      help: '1 while the last delivery round could not reach the mail service (SMTP or Microsoft Graph) or was refused by it, else 0',
      registers,
    });
    this.mailRefused = new Gauge({
      name: 'adnotify_mail_refused',
      help: '1 while sending is stopped because the mail service refused the credentials (until the config is reloaded), else 0',
      registers,
    });
    this.snapshotObjects = new Gauge({
      name: 'adnotify_snapshot_objects',
      help: 'Watched objects in the snapshot',
      registers,
      async collect() {
        const s = store();
        // A state database that cannot be reached keeps the last figure: /metrics still answers.
        const counts = await s?.snapshot.counts().catch(() => undefined);
        if (counts) this.set(counts.objects);
      },
    });
    this.outbox = new Gauge({
      name: 'adnotify_outbox_messages',
      help: 'Messages in the outbox by status',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await store()
          ?.outbox.counts()
          .catch(() => undefined);
        for (const [status, n] of Object.entries(counts ?? {})) this.set({ status }, n);
      },
    });
    this.channelSent = new Counter({
      name: 'adnotify_channel_sent_total',
      help: 'Items delivered to a channel besides mail (a Teams, Slack or webhook channel by name; siem.syslog, siem.file)',
      labelNames: ['channel'],
      registers,
    });
    this.channelFailures = new Counter({
      name: 'adnotify_channel_send_failures_total',
      help: 'Failed attempts to deliver to a channel besides mail (retried or failed for good)',
      labelNames: ['channel'],
      registers,
    });
    this.channelDown = new Gauge({
      name: 'adnotify_channel_down',
      help: '1 while the last delivery round could not reach the channel (its items wait in the outbox, in order), else 0',
      labelNames: ['channel'],
      registers,
    });
    this.schedules = new Gauge({
      name: 'adnotify_lifecycle_schedules',
      help: 'Lifecycle schedules by state ("failed": retried each run; "failed-final": the object is gone)',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await store()
          ?.schedules.counts()
          .catch(() => undefined);
        for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
      },
    });
  }
}

export interface Health {
  healthy: boolean;
  /** leader: polls and runs the jobs; standby: delivers and waits for the lease. */
  role: 'leader' | 'standby';
  /** What starts cycles besides the schedule: the change notifications, while the leader. */
  trigger?: TriggerState;
  reasons: string[];
  lastSuccess: string | null;
  failedMessages: number;
}

/** Serves /healthz and /metrics on `listen` ("host:port"); resolves once listening. */
export async function serveHttp(
  listen: string,
  metrics: Metrics,
  health: () => Promise<Health>,
): Promise<Server> {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(listen);
  const host = match?.[1] ?? '127.0.0.1';
  const port = Number(match?.[2] ?? '9469');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      health()
        .then((h) => {
          res.writeHead(h.healthy ? 200 : 503, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify(h)}\n`);
        })
        .catch(() => res.writeHead(500).end());
      return;
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        })
        .catch(() => res.writeHead(500).end());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
