// One measurement in a fresh process, so that its peak RSS is its own. Uses the built dist/.
// Prints one JSON line on stdout. Usage:
//   node bench/child.mjs cycle <config>           one poll cycle (baseline on an empty state)
//   node bench/child.mjs deliver <config>         send every due message of the outbox (SMTP or Graph)
//   node bench/child.mjs channel <config> <name>  deliver every due item of one channel (webhook, siem.syslog)
//   node bench/child.mjs nodemailer <port> <n>    plain pooled nodemailer, n messages
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';

import { createTransport } from 'nodemailer';

const [task, arg, count] = process.argv.slice(2);
const nowhere = new Writable({
  write(_chunk, _encoding, done) {
    done();
  },
});
const silent = { level: 'error', format: 'json', stream: nowhere };
// The process's own peak RSS: VmHWM, which starts afresh with the new program. Not
// resourceUsage().maxRSS: Linux carries ru_maxrss over fork and exec, so a child's starts at
// the benchmark process's RSS (measured: a child of a 346 MB parent reported 305 MB with 42 MB
// in use), and every figure was at least the parent's size.
const rssMb = () => {
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
};
// Where the memory is at its peak: V8 heap, buffers, or native (SQLite, TLS).
const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], m[k] / 2 ** 20);
}, 25).unref();

if (task === 'cycle' || task === 'deliver' || task === 'channel') {
  const { loadConfig } = await import('../dist/config/load.js');
  const { createLogger } = await import('../dist/log/logger.js');
  const { openStateStore } = await import('../dist/store/open.js');
  const loaded = loadConfig(arg, process.env);
  const log = createLogger({ ...silent, secrets: loaded.secrets });
  // SQLite or PostgreSQL, as state.backend says.
  const store = await openStateStore(loaded.config.state);
  const clock = { now: () => new Date() };
  if (task === 'cycle') {
    // The daemon's own modules in memory, as in `adnotify run`: its peak RSS is the figure.
    await import('../dist/main.js');
    const { LdapDirectory } = await import('../dist/directory/ldap.js');
    const { Renderer } = await import('../dist/mail/render.js');
    const { runCycle } = await import('../dist/poll/cycle.js');
    const directory = new LdapDirectory({ config: loaded.config.directory, log });
    await directory.connect();
    // Compiled once when the daemon starts, as the directory connection is made: not part of a cycle.
    const renderer = Renderer.load(null);
    const afterBind = directory.operations;
    const started = performance.now();
    const summary = await runCycle({ config: loaded.config, directory, store, clock, log, renderer });
    const ms = performance.now() - started;
    const ops = directory.operations - afterBind;
    await directory.close();
    await store.close();
    process.stdout.write(
      `${JSON.stringify({ ms, ops, rssMb: rssMb(), peak, events: summary.events, messages: summary.messages, objects: summary.objects })}\n`,
    );
  } else {
    const { deliverDue } = await import('../dist/mail/dispatcher.js');
    const { transportFor } = await import('../dist/mail/transports.js');
    const { channelTransports } = await import('../dist/channels/transports.js');
    // The configured transport: SMTP, or Microsoft Graph (delivery.transport graph); or one channel's.
    const channel = task === 'channel' ? count : 'mail';
    const transport =
      task === 'channel'
        ? channelTransports(loaded.config, '/nonexistent').get(channel)
        : transportFor(loaded.config, '/nonexistent');
    const started = performance.now();
    const report = await deliverDue(
      store,
      transport,
      clock,
      log,
      { maxAttempts: 3, retryBaseMs: 60_000 },
      channel,
    );
    const ms = performance.now() - started;
    transport.close();
    if (report.sent === 0) throw new Error(`nothing sent: ${JSON.stringify(report)}`);
    await store.close();
    process.stdout.write(
      `${JSON.stringify({ ms, sent: report.sent, perSecond: report.sent / (ms / 1000), rssMb: rssMb() })}\n`,
    );
  }
} else if (task === 'nodemailer') {
  const n = Number(count);
  const transport = createTransport({
    pool: true,
    host: '127.0.0.1',
    port: Number(arg),
    secure: false,
    ignoreTLS: true,
  });
  const text = 'Hello,\n\nUser 1 changed.\n\n  title: Staff -> Lead\n'.repeat(4);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    await transport.sendMail({
      from: 'adnotify <adnotify@example.test>',
      to: `u${i}@example.test`,
      subject: `Changes to user User ${i}`,
      text,
      html: `<p>${text}</p>`,
    });
  }
  const ms = performance.now() - started;
  transport.close();
  process.stdout.write(`${JSON.stringify({ ms, sent: n, perSecond: n / (ms / 1000), rssMb: rssMb() })}\n`);
} else {
  process.stderr.write(`unknown task ${task}\n`);
  process.exit(64);
}
