/**
 * The commands of spec/cli.md that this version implements. Each returns normally on
 * success and throws a typed error otherwise; main.ts maps errors to exit codes.
 */
import { readFileSync } from 'node:fs';

import { runCycle, type CycleSummary } from '../poll/cycle.js';
import { passwordExpiryJob } from '../jobs/passwordExpiry.js';
import { eventJson } from '../core/channels.js';
import { namingContextOf } from '../core/dn.js';
import { parseDuration } from '../core/duration.js';
import { TOMBSTONES_HIDDEN } from '../directory/errors.js';
import {
  ChannelError,
  ConfigError,
  UsageError,
  errorMessage,
  formatProblem,
  type ConfigProblem,
} from '../errors.js';
import { channelTransports } from '../channels/transports.js';
import { emlTransport } from '../mail/eml.js';
import { runDigest } from '../notify/digest.js';
import type { InstanceRecord, StateStore } from '../store/ports.js';
import { asLeader } from './lease.js';
import { commandError } from '../mail/transports.js';
import type { Context, GlobalOptions } from './context.js';
import { eventLines, safeText } from './format.js';
import { deliver } from './mail.js';

export async function checkConfig(
  ctx: Context,
  global: GlobalOptions,
  options: { connect?: boolean },
): Promise<void> {
  const loaded = ctx.config(global.config);
  for (const warning of loaded.warnings) ctx.err(`warning: ${formatProblem(warning)}`);
  // What a start would read besides the file: the CA bundles and the templates.
  const problems: ConfigProblem[] = [];
  const { directory: dir, smtp: mail, microsoft365: m365 } = loaded.config;
  for (const [path, file] of [
    ['directory.tls.caFile', dir.tls.caFile],
    ['smtp.tls.caFile', mail.tls.caFile],
    ['microsoft365.certificateFile', m365?.certificateFile ?? null],
    ['microsoft365.privateKeyFile', m365?.privateKeyFile ?? null],
    ['siem.caFile', loaded.config.siem?.caFile ?? null],
    [
      'state.caFile',
      loaded.config.state.backend === 'postgres' ? (loaded.config.state.caFile ?? null) : null,
    ],
  ] as const) {
    if (file === null) continue;
    try {
      readFileSync(file);
    } catch (err: unknown) {
      problems.push({ path, message: `cannot read ${file}: ${errorMessage(err)}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(loaded.file, problems);
  ctx.renderer(loaded);
  ctx.out(`${loaded.file}: configuration is valid`);
  if (options.connect !== true) return;

  const log = ctx.logger(loaded);
  const directory = ctx.directory(loaded, log);
  try {
    await directory.connect();
    ctx.out(`ldap: connected and bound to ${directory.url ?? '?'} as ${loaded.config.directory.bindDN}`);
    const identity = await directory.identity();
    ctx.out(
      `ldap: rootDSE read: ${identity.dsServiceName} (invocationId ${identity.invocationId}, highestCommittedUSN ${identity.highestCommittedUSN})`,
    );
    const context = namingContextOf(loaded.config.directory.baseDN, identity.namingContexts);
    if (await directory.tombstonesVisible(context)) {
      ctx.out(`ldap: deleted objects are visible to the bind account (CN=Deleted Objects,${context})`);
    } else {
      ctx.err(`warning: ${TOMBSTONES_HIDDEN(loaded.config.directory.bindDN, context)}`);
    }
  } finally {
    await directory.close();
  }
  if (loaded.config.state.backend === 'postgres') {
    // The shared state: reached, the password taken, the schema known; who leads it.
    const store = await ctx.openStore(loaded);
    try {
      const { leader } = await leadershipOf(store, loaded.config.ha.leaseSeconds);
      ctx.out(
        `state: connected to ${ctx.statePath(loaded)}; ${leader ? `${safeText(leader.instance, 200)} leads` : 'no instance leads'}`,
      );
    } finally {
      await store.close();
    }
  }

  // The transport that would carry mail, a dry run's included: what test-email would use.
  const transport = ctx.transport(loaded, { real: true });
  try {
    ctx.out(`${transport.name}: ${await transport.check()}`);
  } catch (err: unknown) {
    throw commandError(err);
  } finally {
    transport.close();
  }
  // Each channel besides mail: reached (nothing posted), or why not. All are tried.
  const channels = channelTransports(
    { ...loaded.config, delivery: { ...loaded.config.delivery, dryRun: false } },
    ctx.emlDir(loaded),
  );
  const unreachable: string[] = [];
  for (const [name, channel] of channels) {
    try {
      ctx.out(`${name}: ${await channel.check()}`);
    } catch (err: unknown) {
      unreachable.push(`${name}: ${errorMessage(err)}`);
    } finally {
      channel.close();
    }
  }
  if (unreachable.length > 0) throw new ChannelError(unreachable.join('; '));
}

/** `adnotify digest [--dry-run]`: the pending digests now, one mail per recipient. */
export async function digest(
  ctx: Context,
  global: GlobalOptions,
  options: { dryRun?: boolean },
): Promise<void> {
  const loaded = ctx.config(global.config);
  if (loaded.config.delivery.digest === undefined) {
    throw new UsageError(
      'delivery.digest is not set: add it (schedule and roles) to send digests instead of some immediate mail (README, "Digests")',
    );
  }
  if (!ctx.stateExists(loaded)) {
    ctx.out('digest: no state yet, so nothing pending');
    return;
  }
  const log = ctx.logger(loaded);
  const store = await ctx.openStore(loaded);
  const dryRun = options.dryRun === true ? emlTransport(ctx.emlDir(loaded)) : undefined;
  try {
    const outcome = await asLeader(
      loaded,
      store,
      'digest',
      () =>
        runDigest(
          { config: loaded.config, store, renderer: ctx.renderer(loaded), clock: ctx.clock, log },
          dryRun ? { dryRun } : {},
        ),
      { dryRun: dryRun !== undefined },
    );
    if (outcome.digests.length === 0) ctx.out('digest: nothing pending');
    for (const d of outcome.digests) {
      ctx.out(
        `digest: ${dryRun ? 'would send' : 'queued'} ${safeText(d.to, 120)}: ${d.items} change${d.items === 1 ? '' : 's'} to ${d.objects} object${d.objects === 1 ? '' : 's'}${dryRun ? ` (written to ${dryRun.target})` : ''}`,
      );
    }
    if (!dryRun) await deliver(ctx, loaded, store, log);
  } finally {
    dryRun?.close();
    await store.close();
  }
}

export async function once(ctx: Context, global: GlobalOptions): Promise<void> {
  const loaded = ctx.config(global.config);
  const log = ctx.logger(loaded);
  const store = await ctx.openStore(loaded);
  const directory = ctx.directory(loaded, log);
  try {
    const summary = await asLeader(loaded, store, 'once', () =>
      runCycle(ctx.deps(loaded, { log, store, directory }, 'cycle')),
    );
    ctx.out(describeCycle(summary));
    await deliver(ctx, loaded, store, log);
  } finally {
    await directory.close();
    await store.close();
  }
}

/**
 * Who leads a shared state: the lease while it is held and unexpired, and the instances that
 * renewed or tried to within three leases. Without a lease (SQLite): no leader to name.
 */
async function leadershipOf(
  store: StateStore,
  leaseSeconds: number,
): Promise<{
  leader: { instance: string; since: string | null; heartbeatAt: string | null } | null;
  instances: InstanceRecord[];
}> {
  if (store.lease === null) return { leader: null, instances: [] };
  const { lease, instances } = await store.lease.view(3 * leaseSeconds);
  return {
    leader:
      lease.live && lease.holder !== null
        ? { instance: lease.holder, since: lease.since, heartbeatAt: lease.heartbeatAt }
        : null,
    instances,
  };
}

function describeCycle(s: CycleSummary): string {
  const time = `${s.seconds.toFixed(1)} s`;
  if (s.kind === 'baseline') {
    return `baseline: ${s.objects} objects (${s.groups} groups, ${s.memberships} memberships), ${s.containers} containers, cursor ${s.cursor}, ${time}; no mail sent`;
  }
  const cursor =
    s.previousCursor === null || s.previousCursor === s.cursor
      ? `cursor ${s.cursor}`
      : `cursor ${s.previousCursor} → ${s.cursor}`;
  if (s.idle) return `${s.kind}: nothing changed, ${cursor}, ${time}`;
  const mail = s.messages > 0 ? `, ${s.messages} messages queued${s.held ? ' and held' : ''}` : '';
  return `${s.kind}: ${s.events} events from ${s.objects} changed objects${mail}, ${cursor}, ${time}`;
}

/** `--since`: a duration back from now ("24h", "7d") or an ISO 8601 date-time. */
export function parseSince(text: string, now: Date): Date {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() - ms);
  const date = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : undefined;
  if (date && !Number.isNaN(date.getTime())) return date;
  throw new UsageError(
    `--since ${JSON.stringify(text)}: expected a duration ("90m", "24h", "7d") or an ISO 8601 date-time ("2026-11-25T08:00:00Z")`,
  );
}

export async function history(
  ctx: Context,
  global: GlobalOptions,
  options: { since?: string; json?: boolean },
): Promise<void> {
  const since = parseSince(options.since ?? '24h', ctx.clock.now());
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) {
    if (options.json === true) ctx.out('[]');
    else ctx.out(`state: ${ctx.statePath(loaded)} does not exist yet; no events`);
    return;
  }
  const store = await ctx.openStore(loaded);
  try {
    // Every event says who made it: an Actor, or null when nobody is known.
    // The same JSON a webhook and the SIEM get (eventJson).
    const events = (await store.events.since(since.toISOString())).map((e) =>
      eventJson({ id: e.id, cycle: e.cycle, at: e.at, event: e }),
    );
    if (options.json === true) {
      ctx.out(JSON.stringify(events, null, 2));
      return;
    }
    if (events.length === 0) ctx.out(`no events since ${since.toISOString()}`);
    for (const event of events) for (const line of eventLines(event)) ctx.out(line);
  } finally {
    await store.close();
  }
}

export async function passwordExpiry(
  ctx: Context,
  global: GlobalOptions,
  options: { dryRun?: boolean },
): Promise<void> {
  const loaded = ctx.config(global.config);
  const dryRun = options.dryRun === true;
  if (!dryRun && !loaded.config.passwordExpiry.enabled) {
    throw new UsageError(
      'passwordExpiry.enabled is false: set it to true (with passwordExpiry.portalUrl) to send reminders; "adnotify password-expiry --dry-run" shows who would get one',
    );
  }
  const log = ctx.logger(loaded);
  const store = await ctx.openStore(loaded);
  const directory = ctx.directory(loaded, log);
  try {
    const due = await asLeader(
      loaded,
      store,
      'password-expiry',
      () => passwordExpiryJob(ctx.deps(loaded, { log, store, directory }, 'password-expiry'), { dryRun }),
      { dryRun },
    );
    if (due.length === 0) ctx.out('password-expiry: no reminders due');
    for (const r of due) {
      const passed =
        r.passed.length > 0 ? ` (also past ${r.passed.join(', ')} days: recorded, not sent)` : '';
      ctx.out(
        `${dryRun ? 'would remind' : 'reminding'} ${safeText(r.mail, 120)}  ${safeText(r.name, 80)}: expires ${r.expiresAt.toISOString()} (in ${r.daysLeft} days), threshold ${r.threshold} days${passed}`,
      );
    }
    if (!dryRun) await deliver(ctx, loaded, store, log);
  } finally {
    await directory.close();
    await store.close();
  }
}

export async function status(
  ctx: Context,
  global: GlobalOptions,
  options: { json?: boolean },
): Promise<void> {
  const loaded = ctx.config(global.config);
  const path = ctx.statePath(loaded);
  if (!ctx.stateExists(loaded)) {
    if (options.json === true) ctx.out(JSON.stringify({ state: path, baseline: null }, null, 2));
    else ctx.out(`state: ${path} does not exist yet; "adnotify once" takes the baseline`);
    return;
  }
  const store = await ctx.openStore(loaded);
  try {
    const dc = await store.cycles.directoryState();
    const counts = await store.snapshot.counts();
    const last = await store.cycles.lastRun();
    const outbox = await store.outbox.counts();
    const ha = await leadershipOf(store, loaded.config.ha.leaseSeconds);
    if (options.json === true) {
      ctx.out(
        JSON.stringify(
          {
            state: path,
            directory: dc ? { ...dc, usnCursor: dc.usnCursor.toString() } : null,
            snapshot: counts,
            lastCycle: last ?? null,
            outbox,
            leader: ha.leader,
            instances: ha.instances,
          },
          null,
          2,
        ),
      );
      return;
    }
    ctx.out(`state:         ${path}`);
    if (dc) {
      ctx.out(`dc:            ${dc.dsServiceName}`);
      ctx.out(`url:           ${dc.url}`);
      ctx.out(`invocationId:  ${dc.invocationId}`);
      ctx.out(`usn cursor:    ${dc.usnCursor}`);
      ctx.out(`baseline:      ${dc.baselineAt}`);
    } else {
      ctx.out('dc:            none yet (no baseline)');
    }
    ctx.out(
      `snapshot:      ${counts.objects} objects (${counts.groups} groups), ${counts.memberships} memberships, ${counts.containers} containers`,
    );
    ctx.out(
      last
        ? `last cycle:    ${last.finishedAt} ${last.kind} ${last.outcome} in ${(last.durationMs / 1000).toFixed(1)} s${last.error ? `: ${last.error}` : ''}`
        : 'last cycle:    none',
    );
    ctx.out(
      `outbox:        ${Object.entries(outbox)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    if (store.lease === null) {
      ctx.out('leader:        this machine alone (SQLite state: one instance, no lease)');
    } else {
      ctx.out(
        ha.leader
          ? `leader:        ${safeText(ha.leader.instance, 200)} since ${ha.leader.since}, lease renewed ${ha.leader.heartbeatAt}`
          : 'leader:        none (no instance holds the lease: the next to renew takes it)',
      );
      if (ha.instances.length === 0) ctx.out('instances:     none seen lately');
      for (const [i, r] of ha.instances.entries()) {
        ctx.out(
          (i === 0 ? 'instances:' : '').padEnd(15) +
            `${safeText(r.instance, 200)} ${r.role}, seen ${r.heartbeatAt}`,
        );
      }
    }
  } finally {
    await store.close();
  }
}
