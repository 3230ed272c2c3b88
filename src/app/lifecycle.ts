/**
 * The lifecycle job: applies due steps of temporary memberships, removals, additional owners
 * and managers to the directory, and tells the people concerned. Each step is one SQLite
 * transaction around the LDAP modify: the snapshot follows the change (so the poll cycle,
 * which cannot run meanwhile, does not report it again), the lifecycle event is recorded, the
 * messages are queued, the schedule moves on. A failure (no write access, object gone) is
 * recorded on the schedule (state `failed`) and retried next run unless the object is gone;
 * the directory is read before each write, so a step whose change reached the directory before
 * a crash is completed at the next run without writing again.
 */
import type { Config } from '../config/schema.js';
import { mailAddress } from '../core/address.js';
import { namingContextOf } from '../core/dn.js';
import type { LifecycleEvent, LifecycleType } from '../core/events.js';
import { effectOf, nextStep, pendingState, stateAfter, whoIsTold, type Step } from '../core/lifecycle.js';
import { textOf, type DirectoryEntry, type DnValue } from '../core/types.js';
import { isNoSuchObject } from '../directory/errors.js';
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
  /** Set when the step could not be applied. */
  error?: string;
  /** With `error`: nothing is left to apply (the group or member is gone), so it is not retried. */
  final?: boolean;
  /** What else happened (the member was not put back, the start was never applied). */
  note?: string;
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

function dnAll(entry: DirectoryEntry, name: string): { guid: string | null; dn: string }[] {
  const values = [...entry.attributes].find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] ?? [];
  return values.filter((v): v is DnValue => typeof v !== 'string' && !(v instanceof Uint8Array));
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
  s: { subject: string; target: string; until: string; reason: string },
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
    case 'lifecycle.not-rejoined':
      return {
        subject: `${s.subject} was not put back into ${s.target}`,
        sentence: `The temporary removal of ${s.subject} from the group ${s.target} has ended, but ${s.subject} was not put back: ${s.reason}. Add the account again if it should be a member.`,
      };
  }
}

/** The date shown with an event: when it ends (additions, joins) or when it will happen (soon). */
function untilFor(s: Schedule, step: Step): string {
  if (step === 'warn') return s.kind === 'removal' ? s.startAt : s.endAt;
  if (step === 'start') return s.endAt;
  return '';
}

/** The group or the member is gone: nothing is left to apply, and retrying cannot help. */
export class GoneError extends LookupError {}

const isDisabled = (entry: DirectoryEntry) =>
  (Number(textOf(entry, 'userAccountControl') ?? '0') & ACCOUNTDISABLE) !== 0;

/** True when `subject` is among the values of `attribute` of `target` (by GUID, else DN). */
function holds(target: DirectoryEntry, attribute: string, subject: DirectoryEntry): boolean {
  const values =
    attribute.toLowerCase() === 'member'
      ? (target.members ?? [])
      : ([...target.attributes].find(([k]) => k.toLowerCase() === attribute.toLowerCase())?.[1] ?? []);
  return values.some(
    (v) =>
      typeof v !== 'string' &&
      !(v instanceof Uint8Array) &&
      (v.guid !== null ? v.guid === subject.guid : v.dn.toLowerCase() === subject.dn.toLowerCase()),
  );
}

/**
 * Runs every due step. With `dryRun`, only says what would be done. Each step commits on its
 * own: a step that fails is recorded on its schedule (state `failed`, with the reason) and
 * never holds up another schedule. Returns the steps, each with an error when it could not
 * be applied.
 */
export async function lifecycleJob(deps: JobDeps, options: { dryRun: boolean }): Promise<AppliedStep[]> {
  const { config, store, clock, log } = deps;
  const identity = await deps.directory.identity();
  const base = namingContextOf(config.directory.baseDN, identity.namingContexts);
  const done: AppliedStep[] = [];
  // The cycle row the run's events belong to. It commits on its own, before the first step:
  // a step that fails rolls back its own writes, never the row the next steps refer to.
  let cycleId: number | null = null;
  for (const original of store.schedules.pending()) {
    let schedule = original;
    for (let guard = 0; guard < 3; guard++) {
      const now = clock.now();
      const step = nextStep(schedule, now, config.lifecycle);
      const from = pendingState(schedule);
      if (!step || from === null) break;
      const { event } = effectOf(schedule.kind, step);
      if (options.dryRun) {
        done.push({ schedule, step, event });
        const after = stateAfter(step, from);
        schedule = {
          ...schedule,
          state: after,
          resumeFrom: null,
          warnedAt: step === 'warn' ? now.toISOString() : schedule.warnedAt,
        };
        if (after === 'done') break;
        continue;
      }
      try {
        cycleId ??= store.beginCycle('lifecycle', now.toISOString());
        const run = cycleId;
        const applied = await store.transaction(() => applyStep(deps, base, schedule, from, step, run, now));
        done.push({ schedule, step, event: applied.event, ...(applied.note ? { note: applied.note } : {}) });
        schedule = store.schedules.get(schedule.id) ?? schedule;
      } catch (err: unknown) {
        const message = errorMessage(err);
        const final = err instanceof GoneError;
        store.schedules.setFailed(schedule.id, message, final ? null : from, now.toISOString());
        log.error(
          final
            ? 'lifecycle step failed; nothing is left to apply'
            : 'lifecycle step failed; it is retried next run',
          {
            schedule: schedule.id,
            step,
            error: message,
          },
        );
        done.push({ schedule, step, event, error: message, final });
        break;
      }
    }
  }
  if (cycleId !== null) {
    const failed = done.filter((d) => d.error !== undefined).length;
    store.finishCycle(cycleId, {
      finishedAt: clock.now().toISOString(),
      durationMs: 0,
      outcome: failed > 0 ? 'failed' : 'ok',
      objects: 0,
      groups: 0,
      memberships: 0,
      events: done.length - failed,
      error: failed > 0 ? `${failed} lifecycle step(s) failed` : null,
    });
  }
  return done;
}

/**
 * Applies one step inside the caller's transaction. The directory is read first, so a step
 * whose change is already there (applied before a crash, or by hand) is completed without
 * writing again. Throws {@link GoneError} when the group or the member no longer exists.
 */
async function applyStep(
  deps: JobDeps,
  base: string,
  s: Schedule,
  from: 'scheduled' | 'active',
  step: Step,
  cycleId: number,
  now: Date,
): Promise<{ event: LifecycleType; note?: string }> {
  const { config, store, log } = deps;
  const at = now.toISOString();
  const { operation, event } = effectOf(s.kind, step);
  const entries = await byGuid(deps, base, [s.targetGuid, s.subjectGuid]);
  const target = entries.get(s.targetGuid);
  const subject = entries.get(s.subjectGuid);
  if (!target || target.deleted) {
    throw new GoneError(`schedule #${s.id}: ${s.targetDn} no longer exists; nothing is left to apply`);
  }
  // The end of a temporary removal puts the member back, unless the account was disabled or
  // deleted meanwhile: rejoining it would undo what its administrator did. The owners decide.
  if (s.kind === 'removal' && step === 'end' && (!subject || subject.deleted || isDisabled(subject))) {
    const reason = !subject || subject.deleted ? 'the account has been deleted' : 'the account is disabled';
    if (from === 'scheduled') {
      // The removal never took effect as far as the state knows: nobody to tell of a rejoin.
      const note = `the start was never applied before the end; not put back: ${reason}`;
      store.schedules.setState(s.id, 'done', at, note);
      return { event: 'lifecycle.not-rejoined', note };
    }
    log.warn('temporary removal ended; the member is not put back', {
      schedule: s.id,
      group: target.dn,
      member: s.subjectDn,
      reason,
    });
    await record(
      deps,
      base,
      s,
      'end',
      'lifecycle.not-rejoined',
      target,
      subject ?? null,
      cycleId,
      now,
      reason,
    );
    store.schedules.setState(s.id, 'done', at, `not put back: ${reason}`);
    return { event: 'lifecycle.not-rejoined', note: `not put back: ${reason}` };
  }
  if (!subject || subject.deleted) {
    throw new GoneError(`schedule #${s.id}: ${s.subjectDn} no longer exists; nothing is left to apply`);
  }
  if (operation !== null) {
    const attribute = attributeFor(s.kind, config);
    const inPlace = holds(target, attribute, subject) === (operation === 'add');
    if (!inPlace) await deps.directory.modify(target.dn, operation, attribute, [subject.dn]);
    store.applyOwnChange(target.guid, attribute, operation, { guid: subject.guid, dn: subject.dn });
    log.info(inPlace ? 'lifecycle change already in place' : 'lifecycle change applied', {
      schedule: s.id,
      step,
      operation,
      attribute,
      target: target.dn,
      subject: subject.dn,
    });
  }
  if (step === 'end' && from === 'scheduled') {
    // The end came before a start was ever recorded (it kept failing, or the process died
    // between the directory write and the commit). The end's change is made all the same, so
    // no temporary grant outlives its schedule; nobody is told of a start that never was.
    const note = 'the start was never applied before the end; the end was applied and nobody was told';
    log.warn('lifecycle schedule ended before its start was applied', { schedule: s.id });
    store.schedules.setState(s.id, 'done', at, note);
    return { event, note };
  }
  await record(deps, base, s, step, event, target, subject, cycleId, now);
  if (step === 'warn') store.schedules.setWarned(s.id, at);
  else store.schedules.setState(s.id, stateAfter(step, from), at);
  return { event };
}

/** Records a step's lifecycle event and queues its notices. */
async function record(
  deps: JobDeps,
  base: string,
  s: Schedule,
  step: Step,
  event: LifecycleType,
  target: DirectoryEntry,
  subject: DirectoryEntry | null,
  cycleId: number,
  now: Date,
  reason?: string,
): Promise<void> {
  const { config, store } = deps;
  const at = now.toISOString();
  const subjectDn = subject?.dn ?? s.subjectDn;
  const until = untilFor(s, step);
  const lifecycleEvent: LifecycleEvent = {
    type: event,
    object: { guid: target.guid, dn: target.dn, class: target.objectClass.at(-1) ?? 'top' },
    subject: { guid: s.subjectGuid, dn: subjectDn, class: subject?.objectClass.at(-1) ?? null },
    schedule: s.id,
    ...(until ? { until } : {}),
    ...(reason ? { reason } : {}),
  };
  store.addEvent(cycleId, at, lifecycleEvent);

  const told = whoIsTold(event, config.lifecycle);
  const names = {
    subject: showValue((subject && textOf(subject, 'displayName')) ?? rdnValue(subjectDn)),
    target: showValue(textOf(target, 'displayName') ?? rdnValue(target.dn)),
    until: until ? when(until) : '',
    reason: reason ?? '',
  };
  const details = [
    `${s.kind === 'manager' ? 'User' : 'Group'}: ${showValue(target.dn)}`,
    `${s.kind === 'member' || s.kind === 'removal' ? 'Member' : s.kind === 'owner' ? 'Additional owner' : 'Additional manager'}: ${showValue(subjectDn)}`,
    `Schedule #${s.id}: from ${when(s.startAt)} until ${when(s.endAt)}`,
  ];
  const recipients: { to: { address: string; name: string | null }; toSubject: boolean }[] = [];
  if (told.subject && subject) {
    const subjectIsGroup = subject.objectClass.some((c) => c.toLowerCase() === 'group');
    // A group as a temporary owner or manager: all its members are told.
    const groupByMembers = s.kind === 'owner' || s.kind === 'manager';
    for (const to of await mailboxes(deps, base, subject, groupByMembers)) {
      recipients.push({ to, toSubject: !(subjectIsGroup && groupByMembers) });
    }
  }
  if (told.primary) {
    // The primary owner or manager; for a member not put back, every owner of the group.
    const attributes =
      event === 'lifecycle.not-rejoined'
        ? ['managedBy', config.directory.additionalOwnersAttribute]
        : [s.kind === 'owner' ? 'managedBy' : 'manager'];
    const guids = attributes
      .flatMap((a) => dnAll(target, a))
      .map((v) => v.guid)
      .filter((g): g is string => g !== null);
    const found = guids.length > 0 ? await byGuid(deps, base, guids) : new Map<string, DirectoryEntry>();
    for (const entry of found.values())
      for (const to of await mailboxes(deps, base, entry, true)) recipients.push({ to, toSubject: false });
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
  // The administrators hear of a member not put back even when the group has no owner.
  const always = event === 'lifecycle.not-rejoined';
  if ((seen.size > 0 || always) && config.smtp.to.length + config.smtp.cc.length > 0) {
    const words = wording(event, names, false);
    queue(
      [...config.smtp.to],
      [...config.smtp.cc],
      { ...words, subject: `[adnotify] ${words.subject}` },
      null,
      'admin-copy',
    );
  }
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
    if (isDn && isNoSuchObject(err)) found.length = 0;
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
