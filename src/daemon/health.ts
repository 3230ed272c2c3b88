/**
 * Whether `adnotify run` is healthy (/healthz), and why not: no successful poll for three
 * intervals, a refused bind password, mail credentials refused, a mail service that has not
 * taken mail for three intervals, failed messages, lifecycle schedules that keep failing.
 * Every reason is put through the same redaction as the logs: an error can quote what it
 * was given.
 */
import type { Health } from './metrics.js';

export interface HealthFacts {
  /** leader: polls and runs the jobs; standby: delivers and waits for the lease. */
  role: 'leader' | 'standby';
  /** Whether the state is shared with other instances (a lease decides who leads). */
  shared: boolean;
  /** Why the state database cannot be reached, while it cannot; null when it can. */
  stateDown: string | null;
  now: Date;
  /** The poll interval (or the gap between two cron runs), in ms. */
  intervalMs: number;
  startedAt: Date;
  lastSuccess: Date | null;
  lastError: string | null;
  /** Why the directory refused the bind password, while binds are stopped. */
  bindRefused: string | null;
  /** While a move to another DC waits for it to catch up: why (nothing is polled meanwhile). */
  lagging: string | null;
  /** Why the mail service refused adnotify's credentials, while sending is stopped. */
  mailRefused: string | null;
  /** Since when delivery rounds find the mail service unreachable or refusing, and why. */
  mailDownSince: Date | null;
  mailDownReason: string | null;
  /** Where mail goes, for people: "the SMTP server" or "Microsoft Graph". */
  mailService: string;
  /** The channels besides mail whose last round found them down: since when and why. */
  channelsDown?: ReadonlyMap<string, { since: Date; reason: string; service: string }>;
  /** Items waiting for channels the config no longer has, by channel. */
  orphans?: ReadonlyMap<string, number>;
  /** Counts from the state; null while the daemon stops (the store may be closed). */
  counts: { pending: number; failed: number; stuckSchedules: number; failedSchedules: number } | null;
  redact: (text: string) => string;
}

export function healthOf(f: HealthFacts): Health {
  const reasons: string[] = [];
  if (f.stateDown !== null) reasons.push(`the state database cannot be reached: ${f.stateDown}`);
  const staleAfter = 3 * f.intervalMs + 60_000;
  // A standby does not poll: the leader's polls are what count, and the leader says so.
  const since = f.role === 'standby' ? f.now : (f.lastSuccess ?? f.startedAt);
  if (f.now.getTime() - since.getTime() > staleAfter) {
    reasons.push(
      `no successful poll since ${f.lastSuccess?.toISOString() ?? 'start'}${f.lastError ? `: ${f.lastError}` : ''}`,
    );
  }
  if (f.bindRefused !== null) {
    reasons.push(
      `${f.bindRefused} adnotify binds no more until its config is reloaded (SIGHUP) or it is restarted, so as not to lock the account out`,
    );
  }
  if (f.lagging !== null) reasons.push(f.lagging);
  if (f.mailRefused !== null) {
    reasons.push(
      `${f.mailService} refused adnotify's credentials: ${f.mailRefused} adnotify sends no more mail until its config is reloaded (SIGHUP) or it is restarted (${f.counts?.pending ?? 0} messages wait in the outbox)`,
    );
  }
  // An outage leaves messages pending, attempts untouched, for as long as it lasts (nothing
  // fails, so nothing else here would show it): say so once it has lasted three intervals.
  const down = f.mailDownSince && f.mailRefused === null ? f.mailDownSince : null;
  if (down && f.now.getTime() - down.getTime() >= 3 * f.intervalMs) {
    reasons.push(
      `${f.mailService} has not taken mail since ${down.toISOString()}: ${f.mailDownReason ?? 'unknown error'} (${f.counts?.pending ?? 0} messages wait in the outbox)`,
    );
  }
  for (const [channel, d] of f.channelsDown ?? []) {
    if (f.now.getTime() - d.since.getTime() < 3 * f.intervalMs) continue;
    reasons.push(
      `channel ${channel}: ${d.service} has not taken items since ${d.since.toISOString()}: ${d.reason} (they wait in the outbox, in order: adnotify outbox list)`,
    );
  }
  for (const [channel, n] of f.orphans ?? []) {
    reasons.push(
      `${n} items wait for channel ${channel}, which is no longer configured: add it back, or drop them with "adnotify outbox discard ID"`,
    );
  }
  const failed = f.counts?.failed ?? 0;
  if (failed > 0) reasons.push(`${failed} messages failed (adnotify outbox list --status failed)`);
  // A lifecycle step that keeps failing may be an end that cannot take a grant away.
  const stuck = f.counts?.stuckSchedules ?? 0;
  if (stuck > 0) reasons.push(`${stuck} lifecycle schedules failed and are retried (adnotify temp list)`);
  // One that failed for good needs a person: its change may be left in the directory.
  const given = f.counts?.failedSchedules ?? 0;
  if (given > 0) {
    reasons.push(
      `${given} lifecycle schedules failed for good: their change may be left in the directory (adnotify temp list; "adnotify temp cancel ID" once handled)`,
    );
  }
  return {
    healthy: reasons.length === 0,
    role: f.role,
    reasons: reasons.map(f.redact),
    lastSuccess: f.lastSuccess?.toISOString() ?? null,
    failedMessages: failed,
  };
}
