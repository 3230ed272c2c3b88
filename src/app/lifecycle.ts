/**
 * The lifecycle job: applies due steps of temporary memberships, removals, additional owners
 * and managers to the directory, and tells the people concerned. Each step is one SQLite
 * transaction around the LDAP modify: the snapshot follows the change (so the poll cycle,
 * which cannot run meanwhile, does not report it again), the lifecycle event is recorded, the
 * messages are queued, the schedule moves on. A failure (no write access, object gone) is
 * recorded on the schedule and retried next run; a step applied twice after a crash is
 * harmless (adding a member already there succeeds).
 */
import type { Config } from '../config/schema.js';
import { mailAddress } from '../core/address.js';
import { namingContextOf } from '../core/dn.js';
import type { LifecycleEvent, LifecycleType } from '../core/events.js';
import { effectOf, nextStep, stateAfter, whoIsTold, type Step } from '../core/lifecycle.js';
import { textOf, type DirectoryEntry } from '../core/types.js';
import type { DirectorySource } from '../directory/port.js';
import { AdnotifyError, errorMessage } from '../errors.js';
import { newMessageId } from '../mail/messageId.js';
import { rdnValue, showValue } from '../mail/render.js';
import type { Schedule, ScheduleKind } from '../store/schedules.js';
import type { JobDeps } from './passwordExpiry.js';

export interface AppliedStep {
  schedule: Schedule;
  step: Step;
  event: LifecycleType;
  /** Set when the step could not be applied; it is retried next run. */
  error?: string;
}

export class LookupError extends AdnotifyError {}

const ACCOUNTDISABLE = 0x2;

/** The attribute a kind of schedule changes. */
export function attributeFor(kind: ScheduleKind, config: Config): string {
  if (kind === 'member' || kind === 'removal') return 'member';
  if (kind === 'owner') return config.directory.additionalOwnersAttribute;
  const attribute = config.directory.additionalManagersAttribute;
  if (attribute === null) {
    throw new LookupError(
      'directory.additionalManagersAttribute is null: set it to the multi-valued DN attribute that holds additional managers (e.g. secretary) to schedule temporary managers',
    );
  }
  return attribute;
}

function dnOne(entry: DirectoryEntry, name: string): { guid: string | null; dn: string } | null {
  const value = [...entry.attributes].find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1][0];
  return value !== undefined && typeof value !== 'string' && !(value instanceof Uint8Array) ? value : null;
}

/** Reads objects by GUID from the naming context (they may be outside the watched base). */
async function byGuid(deps: JobDeps, base: string, guids: string[]): Promise<Map<string, DirectoryEntry>> {
  const out = new Map<string, DirectoryEntry>();
  for (let i = 0; i < guids.length; i += 50) {
    for await (const page of deps.directory.search({ base, filter: { guids: guids.slice(i, i + 50) } })) {
      for (const entry of page) out.set(entry.guid, entry);
    }
  }
  return out;
}

/** Mailboxes for an object: its mail when enabled; a group's members' when told as a group. */
async function mailboxes(
  deps: JobDeps,
  base: string,
  entry: DirectoryEntry,
  groupByMembers: boolean,
): Promise<{ address: string; name: string | null }[]> {
  const isGroup = entry.objectClass.some((c) => c.toLowerCase() === 'group');
  const mail = mailAddress(textOf(entry, 'mail'));
  if (!isGroup || (!groupByMembers && mail !== null)) {
    const disabled = (Number(textOf(entry, 'userAccountControl') ?? '0') & ACCOUNTDISABLE) !== 0;
    return mail !== null && !disabled ? [{ address: mail, name: textOf(entry, 'displayName') }] : [];
  }
  const members = await byGuid(
    deps,
    base,
    (entry.members ?? []).map((m) => m.guid).filter((g): g is string => g !== null),
  );
  const out: { address: string; name: string | null }[] = [];
  for (const m of members.values()) {
    if (m.objectClass.some((c) => c.toLowerCase() === 'group')) continue;
    out.push(...(await mailboxes(deps, base, m, false)));
  }
  return out;
}

const when = (iso: string) => iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');

/** Subject line and sentence of a lifecycle message, to the subject ("you") or about them. */
function wording(
  event: LifecycleType,
  s: { subject: string; target: string; until: string },
  toSubject: boolean,
) {
  const who = toSubject ? 'You' : s.subject;
  const are = toSubject ? 'are' : 'is';
  const have = toSubject ? 'have' : 'has';
  switch (event) {
    case 'lifecycle.joined':
      return {
        subject: `${who} joined ${s.target}`,
        sentence: `${who} ${have} been added to the group ${s.target}${s.until ? ` until ${s.until}` : ''}.`,
      };
    case 'lifecycle.left':
      return {
        subject: `${who} left ${s.target}`,
        sentence: `${who} ${have} been removed from the group ${s.target}${s.until ? ` until ${s.until}` : ''}.`,
      };
    case 'lifecycle.leaving-soon':
      return {
        subject: `${who} will leave ${s.target} on ${s.until}`,
        sentence: `${who} will be removed from the group ${s.target} on ${s.until}.`,
      };
    case 'lifecycle.owner-added':
      return {
        subject: `${who} ${are} now an additional owner of ${s.target}`,
        sentence: `${who} ${are} now an additional owner of the group ${s.target} until ${s.until}.`,
      };
    case 'lifecycle.owner-removed':
      return {
        subject: `${who} ${are} no longer an additional owner of ${s.target}`,
        sentence: `${who} ${are} no longer an additional owner of the group ${s.target}.`,
      };
    case 'lifecycle.owner-removal-soon':
      return {
        subject: `${who} will stop being an additional owner of ${s.target} on ${s.until}`,
        sentence: `${who} will stop being an additional owner of the group ${s.target} on ${s.until}.`,
      };
    case 'lifecycle.manager-added':
      return {
        subject: `${who} ${are} now an additional manager of ${s.target}`,
        sentence: `${who} ${are} now an additional manager of ${s.target} until ${s.until}.`,
      };
    case 'lifecycle.manager-removed':
      return {
        subject: `${who} ${are} no longer an additional manager of ${s.target}`,
        sentence: `${who} ${are} no longer an additional manager of ${s.target}.`,
      };
    case 'lifecycle.manager-removal-soon':
      return {
        subject: `${who} will stop being an additional manager of ${s.target} on ${s.until}`,
        sentence: `${who} will stop being an additional manager of ${s.target} on ${s.until}.`,
      };
  }
}

/** The date shown with an event: when it ends (additions, joins) or when it will happen (soon). */
function untilFor(s: Schedule, step: Step): string {
  if (step === 'warn') return s.kind === 'removal' ? s.startAt : s.endAt;
  if (step === 'start') return s.endAt;
  return '';
}

/**
 * Runs every due step. With `dryRun`, only says what would be done. Returns the steps, each
 * with an error when it could not be applied (it stays due and is retried next run).
 */
export async function lifecycleJob(deps: JobDeps, options: { dryRun: boolean }): Promise<AppliedStep[]> {
  const { config, store, clock, log } = deps;
  const identity = await deps.directory.identity();
  const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
  const done: AppliedStep[] = [];
  // The cycle row the job's events belong to, written with the first step applied.
  const run: { cycleId: number | null } = { cycleId: null };
  for (const original of store.schedules.list()) {
    let schedule = original;
    for (let guard = 0; guard < 3; guard++) {
      const now = clock.now();
      const step = nextStep(schedule, now, config.lifecycle);
      if (!step) break;
      const { event } = effectOf(schedule.kind, step);
      if (options.dryRun) {
        done.push({ schedule, step, event });
        schedule = {
          ...schedule,
          state: stateAfter(step, schedule.state),
          warnedAt: step === 'warn' ? now.toISOString() : schedule.warnedAt,
        };
        continue;
      }
      try {
        await store.transaction(async () => {
          run.cycleId ??= store.beginCycle('lifecycle', now.toISOString());
          await applyStep(deps, base, schedule, step, run.cycleId, now);
        });
        done.push({ schedule, step, event });
        schedule = store.schedules.get(schedule.id) ?? schedule;
      } catch (err: unknown) {
        const message = errorMessage(err);
        store.schedules.setError(schedule.id, message, now.toISOString());
        log.error('lifecycle step not applied; it is retried next run', {
          schedule: schedule.id,
          step,
          error: message,
        });
        done.push({ schedule, step, event, error: message });
        break;
      }
    }
  }
  if (run.cycleId !== null) {
    const finished = clock.now().toISOString();
    store.finishCycle(run.cycleId, {
      finishedAt: finished,
      durationMs: 0,
      outcome: 'ok',
      objects: 0,
      groups: 0,
      memberships: 0,
      events: done.filter((d) => !d.error).length,
      error: null,
    });
  }
  return done;
}

async function applyStep(
  deps: JobDeps,
  base: string,
  s: Schedule,
  step: Step,
  cycleId: number,
  now: Date,
): Promise<void> {
  const { config, store, log } = deps;
  const at = now.toISOString();
  const { operation, event } = effectOf(s.kind, step);
  const entries = await byGuid(deps, base, [s.targetGuid, s.subjectGuid]);
  const target = entries.get(s.targetGuid);
  const subject = entries.get(s.subjectGuid);
  if (!target || !subject || target.deleted || subject.deleted) {
    store.schedules.setState(s.id, 'cancelled', at);
    throw new LookupError(
      `schedule #${s.id}: ${!target || target.deleted ? s.targetDn : s.subjectDn} no longer exists; the schedule is cancelled`,
    );
  }
  if (operation !== null) {
    const attribute = attributeFor(s.kind, config);
    await deps.directory.modify(target.dn, operation, attribute, [subject.dn]);
    store.applyOwnChange(target.guid, attribute, operation, { guid: subject.guid, dn: subject.dn });
    log.info('lifecycle change applied', {
      schedule: s.id,
      step,
      operation,
      attribute,
      target: target.dn,
      subject: subject.dn,
    });
  }
  const until = untilFor(s, step);
  const lifecycleEvent: LifecycleEvent = {
    type: event,
    object: { guid: target.guid, dn: target.dn, class: target.objectClass.at(-1) ?? 'top' },
    subject: { guid: subject.guid, dn: subject.dn, class: subject.objectClass.at(-1) ?? null },
    schedule: s.id,
    ...(until ? { until } : {}),
  };
  store.addEvent(cycleId, at, lifecycleEvent);

  const told = whoIsTold(event, config.lifecycle);
  const names = {
    subject: showValue(textOf(subject, 'displayName') ?? rdnValue(subject.dn)),
    target: showValue(textOf(target, 'displayName') ?? rdnValue(target.dn)),
    until: until ? when(until) : '',
  };
  const details = [
    `${s.kind === 'manager' ? 'User' : 'Group'}: ${showValue(target.dn)}`,
    `${s.kind === 'member' || s.kind === 'removal' ? 'Member' : s.kind === 'owner' ? 'Additional owner' : 'Additional manager'}: ${showValue(subject.dn)}`,
    `Schedule #${s.id}: from ${when(s.startAt)} until ${when(s.endAt)}`,
  ];
  const recipients: { to: { address: string; name: string | null }; toSubject: boolean }[] = [];
  const subjectIsGroup = subject.objectClass.some((c) => c.toLowerCase() === 'group');
  if (told.subject) {
    // A group as a temporary owner or manager: all its members are told.
    const groupByMembers = s.kind === 'owner' || s.kind === 'manager';
    for (const to of await mailboxes(deps, base, subject, groupByMembers)) {
      recipients.push({ to, toSubject: !(subjectIsGroup && groupByMembers) });
    }
  }
  if (told.primary) {
    const primary = dnOne(target, s.kind === 'owner' ? 'managedBy' : 'manager');
    if (primary?.guid) {
      const entry = (await byGuid(deps, base, [primary.guid])).get(primary.guid);
      if (entry)
        for (const to of await mailboxes(deps, base, entry, true)) recipients.push({ to, toSubject: false });
    }
  }
  const seen = new Set<string>();
  const from = config.smtp.from;
  const queue = (
    to: string[],
    cc: string[],
    words: { subject: string; sentence: string },
    name: string | null,
    kind: string,
  ) => {
    const rendered = deps.renderer.render('lifecycle', {
      subject: words.subject,
      sentence: words.sentence,
      details,
      recipientName: name === null ? null : showValue(name),
      when: when(at),
    });
    store.outbox.add({
      cycleId,
      createdAt: at,
      status: 'pending',
      kind,
      objectGuid: target.guid,
      messageId: newMessageId(from),
      envelope: { from, to, cc },
      ...rendered,
    });
  };
  for (const r of recipients) {
    const key = r.to.address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    queue([r.to.address], [], wording(event, names, r.toSubject), r.to.name, 'lifecycle');
  }
  if (seen.size > 0 && config.smtp.to.length + config.smtp.cc.length > 0) {
    const words = wording(event, names, false);
    queue(
      [...config.smtp.to],
      [...config.smtp.cc],
      { ...words, subject: `[adnotify] ${words.subject}` },
      null,
      'admin-copy',
    );
  }
  if (step === 'warn') store.schedules.setWarned(s.id, at);
  else store.schedules.setState(s.id, stateAfter(step, s.state), at);
}

/**
 * Finds one object by DN, sAMAccountName, userPrincipalName or mail. No match, or more than
 * one, is an error that says what matched.
 */
export async function resolveName(
  directory: DirectorySource,
  base: string,
  name: string,
): Promise<DirectoryEntry> {
  const isDn = /^[A-Za-z][\w-]*=.+/.test(name) && name.includes(',');
  const escaped = name.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const request = isDn
    ? { base: name, scope: 'base' as const, filter: '(objectClass=*)' }
    : { base, filter: `(|(sAMAccountName=${escaped})(userPrincipalName=${escaped})(mail=${escaped}))` };
  const found: DirectoryEntry[] = [];
  try {
    for await (const page of directory.search(request)) found.push(...page);
  } catch (err: unknown) {
    if (isDn && /no such object|0x20|NoSuchObject/i.test(errorMessage(err))) found.length = 0;
    else throw err;
  }
  const [only] = found;
  if (!only)
    throw new LookupError(
      `no object is named ${JSON.stringify(name)} (looked for a DN, sAMAccountName, userPrincipalName or mail)`,
    );
  if (found.length > 1) {
    throw new LookupError(
      `${JSON.stringify(name)} is ambiguous; it matches:\n${found.map((e) => `  ${e.dn}`).join('\n')}\nName one by its DN.`,
    );
  }
  return only;
}
