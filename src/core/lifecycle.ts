/**
 * The lifecycle of temporary memberships, removals, additional owners and managers
 * (`lifecycle:` in the config; the "Membership Lifecycle" and "Managed By" notification
 * options of the seed). Pure: which step of a schedule is due, what it changes in the
 * directory, and who is told.
 */
import type { LifecycleType } from './events.js';

export type ScheduleKind = 'member' | 'removal' | 'owner' | 'manager';

export type ScheduleState = 'scheduled' | 'active' | 'done' | 'cancelled' | 'failed';

export interface ScheduleView {
  kind: ScheduleKind;
  /**
   * `failed`: a step could not be applied. With `resumeFrom` set the failure may clear by
   * itself (no write access yet, the DC unreachable) and the schedule goes on from that state
   * at the next run; with `resumeFrom` null nothing is left to apply (the group is gone).
   */
  state: ScheduleState;
  resumeFrom: 'scheduled' | 'active' | null;
  startAt: string;
  endAt: string;
  warnedAt: string | null;
}

export interface LifecycleOptions {
  membership: { notifyOnJoin: boolean; notifyOnLeave: boolean; daysBeforeLeave: number };
  managedBy: {
    sameAsMembership: boolean;
    notifyOnAdd: boolean;
    notifyOnRemove: boolean;
    daysBeforeRemove: number;
  };
}

export type Step = 'start' | 'end' | 'warn';

const DAY_MS = 86_400_000;

/** The Managed By options in force: the membership ones with sameAsMembership. */
export function managedByOptions(options: LifecycleOptions) {
  const m = options.membership;
  return options.managedBy.sameAsMembership
    ? { notifyOnAdd: m.notifyOnJoin, notifyOnRemove: m.notifyOnLeave, daysBeforeRemove: m.daysBeforeLeave }
    : options.managedBy;
}

function warnDays(kind: ScheduleKind, options: LifecycleOptions): number {
  return kind === 'member' || kind === 'removal'
    ? options.membership.daysBeforeLeave
    : managedByOptions(options).daysBeforeRemove;
}

/** The state a schedule is in for the job: a retryable failure goes on where it stopped. */
export function pendingState(s: Pick<ScheduleView, 'state' | 'resumeFrom'>): 'scheduled' | 'active' | null {
  if (s.state === 'scheduled' || s.state === 'active') return s.state;
  return s.state === 'failed' ? s.resumeFrom : null;
}

/**
 * The step due now, if any: the start once its time has come, then the end; before the
 * step that takes the subject out (the end, or for a removal the start), one warning
 * `days before` when that option is on and there is still time to warn.
 *
 * Once its end time has come the end is due whatever happened before: a start that never
 * committed (it failed, or the process died between the directory write and the commit) must
 * not leave a temporary grant in place, so the end's change is applied all the same.
 */
export function nextStep(s: ScheduleView, now: Date, options: LifecycleOptions): Step | undefined {
  const state = pendingState(s);
  if (state === null) return undefined;
  const t = now.getTime();
  const start = Date.parse(s.startAt);
  const end = Date.parse(s.endAt);
  if (t >= end) return 'end';
  const days = warnDays(s.kind, options);
  const warnBefore = (leaveAt: number) =>
    days > 0 && s.warnedAt === null && t < leaveAt && t >= leaveAt - days * DAY_MS;
  if (state === 'scheduled') {
    if (t >= start) return 'start';
    if (s.kind === 'removal' && warnBefore(start)) return 'warn';
    return undefined;
  }
  if (s.kind !== 'removal' && warnBefore(end)) return 'warn';
  return undefined;
}

export interface StepEffect {
  /** The directory change, or none for a warning. */
  operation: 'add' | 'delete' | null;
  event: LifecycleType;
}

const EFFECTS: Record<ScheduleKind, Record<Step, StepEffect>> = {
  member: {
    start: { operation: 'add', event: 'lifecycle.joined' },
    end: { operation: 'delete', event: 'lifecycle.left' },
    warn: { operation: null, event: 'lifecycle.leaving-soon' },
  },
  removal: {
    start: { operation: 'delete', event: 'lifecycle.left' },
    end: { operation: 'add', event: 'lifecycle.joined' },
    warn: { operation: null, event: 'lifecycle.leaving-soon' },
  },
  owner: {
    start: { operation: 'add', event: 'lifecycle.owner-added' },
    end: { operation: 'delete', event: 'lifecycle.owner-removed' },
    warn: { operation: null, event: 'lifecycle.owner-removal-soon' },
  },
  manager: {
    start: { operation: 'add', event: 'lifecycle.manager-added' },
    end: { operation: 'delete', event: 'lifecycle.manager-removed' },
    warn: { operation: null, event: 'lifecycle.manager-removal-soon' },
  },
};

export function effectOf(kind: ScheduleKind, step: Step): StepEffect {
  return EFFECTS[kind][step];
}

/**
 * Who hears of a lifecycle event: the subject (the member, or the temporary owner or
 * manager), and for owners and managers also the primary owner or manager.
 */
export function whoIsTold(
  event: LifecycleType,
  options: LifecycleOptions,
): { subject: boolean; primary: boolean } {
  const m = options.membership;
  const mb = managedByOptions(options);
  switch (event) {
    case 'lifecycle.joined':
      return { subject: m.notifyOnJoin, primary: false };
    case 'lifecycle.left':
      return { subject: m.notifyOnLeave, primary: false };
    case 'lifecycle.leaving-soon':
      return { subject: m.daysBeforeLeave > 0, primary: false };
    case 'lifecycle.owner-added':
    case 'lifecycle.manager-added':
      return { subject: mb.notifyOnAdd, primary: mb.notifyOnAdd };
    case 'lifecycle.owner-removed':
    case 'lifecycle.manager-removed':
      return { subject: mb.notifyOnRemove, primary: mb.notifyOnRemove };
    case 'lifecycle.owner-removal-soon':
    case 'lifecycle.manager-removal-soon':
      return { subject: mb.daysBeforeRemove > 0, primary: false };
    case 'lifecycle.not-rejoined':
      // The member cannot be told (disabled or deleted); the group's owners decide what next.
      return { subject: false, primary: true };
  }
}

/** The schedule's state after a step applied from `state` (a pending one). */
export function stateAfter(step: Step, state: 'scheduled' | 'active'): 'scheduled' | 'active' | 'done' {
  if (step === 'start') return 'active';
  if (step === 'end') return 'done';
  return state;
}
