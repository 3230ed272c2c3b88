/**
 * `adnotify temp`: schedule temporary memberships, removals, additional owners and managers
 * (spec/cli.md, "Lifecycle scheduling"), list and cancel them, and run the lifecycle job.
 */
import { attributeFor, lifecycleJob, resolveName } from '../jobs/lifecycle/job.js';
import { asLeader } from './lease.js';
import type { LoadedConfig } from '../config/load.js';
import { namingContextOf } from '../core/dn.js';
import { parseDuration } from '../core/duration.js';
import { isProtectedEntry } from '../core/protected.js';
import type { DirectoryEntry } from '../core/types.js';
import { TemporaryError, UsageError } from '../errors.js';
import type { ScheduleKind } from '../store/ports.js';

import type { Context, GlobalOptions } from './context.js';
import { safeText } from './format.js';
import { deliver } from './mail.js';

/**
 * T on the command line: an ISO 8601 date-time with an offset ("Z" or "+01:00"), a date
 * (midnight UTC), or a duration from now ("90s", "2h", "3d"). A date-time without an offset is
 * refused: JavaScript would read it as the machine's local time, and a grant that ends hours
 * early or late is worse than a clear error.
 */
export function parseWhen(text: string, now: Date, flag: string): Date {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now.getTime() + ms);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const withOffset = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text);
  if (dateOnly || withOffset) {
    const date = new Date(dateOnly ? `${text}T00:00:00Z` : text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new UsageError(
    `${flag} ${JSON.stringify(text)}: expected an ISO 8601 date-time with an offset ("Z" for UTC, or "+01:00"), e.g. "2026-12-01T09:00:00Z"; a date ("2026-12-01", midnight UTC); or a duration from now ("90s", "2h", "3d")`,
  );
}

const isClass = (entry: DirectoryEntry, cls: string) =>
  entry.objectClass.some((c) => c.toLowerCase() === cls);

export interface TempAddOptions {
  group?: string;
  member?: string;
  owner?: string;
  user?: string;
  manager?: string;
  from?: string;
  until: string;
  allowProtected?: boolean;
}

const WORDS: Record<ScheduleKind, string> = {
  member: 'temporary member',
  removal: 'temporary removal of',
  owner: 'temporary additional owner',
  manager: 'temporary additional manager',
};

export async function tempAdd(
  ctx: Context,
  global: GlobalOptions,
  kind: ScheduleKind,
  options: TempAddOptions,
): Promise<void> {
  const targetName = kind === 'manager' ? options.user : options.group;
  const subjectName =
    kind === 'owner' ? options.owner : kind === 'manager' ? options.manager : options.member;
  if (targetName === undefined || subjectName === undefined) {
    throw new UsageError(
      `temp add ${kind}: ${kind === 'manager' ? '--user and --manager' : `--group and --${kind === 'owner' ? 'owner' : 'member'}`} are required`,
    );
  }
  const now = ctx.clock.now();
  const from = options.from === undefined ? now : parseWhen(options.from, now, '--from');
  const until = parseWhen(options.until, now, '--until');
  if (until.getTime() <= from.getTime())
    throw new UsageError(`--until (${until.toISOString()}) must be after --from (${from.toISOString()})`);
  if (until.getTime() <= now.getTime())
    throw new UsageError(`--until (${until.toISOString()}) is in the past`);

  const loaded = ctx.config(global.config);
  if (kind === 'manager') attributeFor(kind, loaded.config); // fails early when no attribute is configured
  const log = ctx.logger(loaded);
  const directory = ctx.directory(loaded, log);
  const store = await ctx.openStore(loaded);
  try {
    const identity = await directory.identity();
    const base = namingContextOf(loaded.config.directory.baseDN, identity.namingContexts);
    const target = await resolveName(directory, base, targetName);
    const subject = await resolveName(directory, base, subjectName);
    if (kind !== 'manager' && !isClass(target, 'group')) throw new UsageError(`${target.dn} is not a group`);
    if (kind === 'manager' && !(isClass(target, 'user') || isClass(target, 'contact'))) {
      throw new UsageError(`${target.dn} is not a user or contact`);
    }
    const isMember = (target.members ?? []).some((m) => m.guid === subject.guid);
    // A "temporary removal" of a non-member would add it at its end: a grant nobody asked for.
    if (kind === 'removal' && !isMember) {
      throw new UsageError(
        `${subject.dn} is not a member of ${target.dn}: a temporary removal would add it when it ends. Use "temp add member" to grant a temporary membership.`,
      );
    }
    if (isProtectedEntry(target, loaded.config.notify.protectedGroupsExtra)) {
      if (options.allowProtected !== true) {
        throw new UsageError(
          `${target.dn} is protected (adminCount=1, or listed in notify.protectedGroupsExtra): a temporary change to it grants or withdraws administrative rights. Add --allow-protected if that is what you mean.`,
        );
      }
      log.warn('temporary change of a protected object scheduled (--allow-protected)', {
        kind,
        target: target.dn,
        subject: subject.dn,
        from: from.toISOString(),
        until: until.toISOString(),
        createdBy: ctx.user,
      });
    }
    const id = await store.schedules.add({
      kind,
      targetGuid: target.guid,
      targetDn: target.dn,
      subjectGuid: subject.guid,
      subjectDn: subject.dn,
      startAt: from.toISOString(),
      endAt: until.toISOString(),
      createdAt: now.toISOString(),
      createdBy: ctx.user,
    });
    ctx.out(`${id}`);
    ctx.err(
      `schedule #${id}: ${WORDS[kind]} ${safeText(subject.dn, 200)} ${kind === 'manager' ? 'of' : kind === 'removal' ? 'from' : 'of'} ${safeText(target.dn, 200)}, from ${from.toISOString()} until ${until.toISOString()} (UTC)`,
    );
    if (kind === 'member' && isMember) {
      ctx.err(`warning: ${subject.dn} is already a member; it will be removed at ${until.toISOString()}`);
    }
    if (!loaded.config.lifecycle.enabled) {
      ctx.err('warning: lifecycle.enabled is false: nothing applies this schedule until it is enabled');
    }
  } finally {
    await directory.close();
    await store.close();
  }
}

export async function tempList(
  ctx: Context,
  global: GlobalOptions,
  options: { json?: boolean; all?: boolean },
): Promise<void> {
  const loaded = ctx.config(global.config);
  if (!ctx.stateExists(loaded)) {
    ctx.out(options.json === true ? '[]' : 'no schedules');
    return;
  }
  const store = await ctx.openStore(loaded);
  try {
    const list = await store.schedules.list(options.all === true);
    if (options.json === true) {
      ctx.out(JSON.stringify(list, null, 2));
      return;
    }
    if (list.length === 0) ctx.out('no schedules');
    for (const s of list) {
      const state = s.state === 'failed' && s.resumeFrom !== null ? 'failed (retried)' : s.state;
      ctx.out(
        `#${s.id}  ${state.padEnd(9)} ${WORDS[s.kind]} ${safeText(s.subjectDn, 200)} / ${safeText(s.targetDn, 200)}  ${s.startAt} → ${s.endAt}  by ${safeText(s.createdBy ?? 'unknown', 64)}`,
      );
      if (s.lastError === null) continue;
      if (s.state !== 'failed') ctx.out(`      note: ${safeText(s.lastError, 300)}`);
      else {
        const next = s.resumeFrom === null ? 'not retried' : 'retried each run';
        ctx.out(`      last error: ${safeText(s.lastError, 300)} (${s.failures} failed attempts; ${next})`);
      }
    }
  } finally {
    await store.close();
  }
}

export async function tempCancel(ctx: Context, global: GlobalOptions, idText: string): Promise<void> {
  const id = Number(idText);
  if (!Number.isInteger(id)) throw new UsageError(`temp cancel: "${idText}" is not a schedule ID`);
  const loaded = ctx.config(global.config);
  const store = await ctx.openStore(loaded);
  try {
    const s = await store.schedules.get(id);
    if (!s) throw new UsageError(`temp cancel: no schedule #${id}`);
    if (s.state === 'done' || s.state === 'cancelled')
      throw new UsageError(`temp cancel: schedule #${id} is already ${s.state}`);
    // A schedule failed for good is cancelled to say an administrator has dealt with it.
    const acknowledged = s.state === 'failed' && s.resumeFrom === null;
    if (!(await store.schedules.setState(id, s.state, 'cancelled', ctx.clock.now().toISOString()))) {
      throw new TemporaryError(
        `temp cancel: schedule #${id} changed while it was being cancelled (the lifecycle job applied a step); run "adnotify temp list" and try again`,
      );
    }
    const started = s.state === 'active' || (s.state === 'failed' && s.resumeFrom === 'active');
    ctx.out(
      acknowledged
        ? `schedule #${id} (failed for good) cancelled: marked as dealt with; the directory is left as it is now`
        : `schedule #${id} cancelled${started ? '; the directory is left as it is now (the change made at its start stays)' : ''}`,
    );
  } finally {
    await store.close();
  }
}

export async function tempApply(
  ctx: Context,
  global: GlobalOptions,
  options: { dryRun?: boolean },
): Promise<void> {
  const loaded: LoadedConfig = ctx.config(global.config);
  const dryRun = options.dryRun === true;
  if (!dryRun && !loaded.config.lifecycle.enabled) {
    throw new UsageError(
      'lifecycle.enabled is false: set it to true to apply schedules; "adnotify temp apply --dry-run" shows what is due',
    );
  }
  const log = ctx.logger(loaded);
  const directory = ctx.directory(loaded, log);
  const store = await ctx.openStore(loaded);
  try {
    const steps = await asLeader(
      loaded,
      store,
      'temp apply',
      () => lifecycleJob(ctx.deps(loaded, { log, store, directory }, 'lifecycle'), { dryRun }),
      { dryRun },
    );
    if (steps.length === 0) ctx.out('temp: nothing due');
    for (const s of steps) {
      ctx.out(
        `${dryRun ? 'would apply' : s.error ? 'FAILED' : 'applied'} #${s.schedule.id} ${s.step} (${s.event}): ${safeText(s.schedule.subjectDn, 200)} / ${safeText(s.schedule.targetDn, 200)}${s.error ? `: ${safeText(s.error, 300)}${s.final ? ' (not retried)' : ' (retried next run)'}` : ''}${s.note ? ` (${safeText(s.note, 200)})` : ''}`,
      );
    }
    if (!dryRun) await deliver(ctx, loaded, store, log);
  } finally {
    await directory.close();
    await store.close();
  }
}
