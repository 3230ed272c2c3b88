import { describe, expect, it } from 'vitest';

import {
  effectOf,
  nextStep,
  whoIsTold,
  type LifecycleOptions,
  type ScheduleView,
} from '../../src/core/lifecycle.js';

const DAY = 86_400_000;
const t0 = Date.parse('2026-12-01T00:00:00Z');
const at = (days: number) => new Date(t0 + days * DAY);
const options = (
  over: Partial<LifecycleOptions['membership']> = {},
  mb: Partial<LifecycleOptions['managedBy']> = {},
): LifecycleOptions => ({
  membership: { notifyOnJoin: true, notifyOnLeave: true, daysBeforeLeave: 2, ...over },
  managedBy: { sameAsMembership: false, notifyOnAdd: true, notifyOnRemove: true, daysBeforeRemove: 1, ...mb },
});
const schedule = (
  kind: ScheduleView['kind'],
  state: ScheduleView['state'],
  warnedAt: string | null = null,
  resumeFrom: ScheduleView['resumeFrom'] = null,
): ScheduleView => ({
  kind,
  state,
  resumeFrom,
  startAt: at(1).toISOString(),
  endAt: at(10).toISOString(),
  warnedAt,
});

describe('nextStep', () => {
  it.each([
    { s: schedule('member', 'scheduled'), now: 0, step: undefined },
    { s: schedule('member', 'scheduled'), now: 1, step: 'start' },
    { s: schedule('member', 'active'), now: 5, step: undefined },
    { s: schedule('member', 'active'), now: 8, step: 'warn' },
    { s: schedule('member', 'active', at(8).toISOString()), now: 9, step: undefined },
    { s: schedule('member', 'active', at(8).toISOString()), now: 10, step: 'end' },
    { s: schedule('member', 'active'), now: 11, step: 'end' },
    { s: schedule('removal', 'scheduled'), now: -0.5, step: 'warn' },
    { s: schedule('removal', 'active'), now: 9, step: undefined },
    { s: schedule('owner', 'active'), now: 9.5, step: 'warn' },
    { s: schedule('owner', 'active'), now: 8.5, step: undefined },
    { s: schedule('member', 'done'), now: 20, step: undefined },
    { s: schedule('member', 'cancelled'), now: 5, step: undefined },
    // The end runs at its time even when the start never committed: no grant outlives it.
    { s: schedule('member', 'scheduled'), now: 10, step: 'end' },
    { s: schedule('owner', 'scheduled'), now: 12, step: 'end' },
    { s: schedule('removal', 'scheduled'), now: 10.5, step: 'end' },
    // A failure that may clear goes on from where it stopped; a final one never runs again.
    { s: schedule('member', 'failed', null, 'scheduled'), now: 1, step: 'start' },
    { s: schedule('member', 'failed', null, 'scheduled'), now: 10, step: 'end' },
    { s: schedule('member', 'failed', null, 'active'), now: 8, step: 'warn' },
    { s: schedule('member', 'failed', null, 'active'), now: 10, step: 'end' },
    { s: schedule('member', 'failed', null, null), now: 10, step: undefined },
  ])('$s.kind $s.state at day $now: $step', ({ s, now, step }) => {
    expect(nextStep(s, at(now), options())).toBe(step);
  });

  it('never warns when daysBeforeLeave is 0', () => {
    expect(nextStep(schedule('member', 'active'), at(9.9), options({ daysBeforeLeave: 0 }))).toBeUndefined();
  });
});

describe('effects and who is told', () => {
  it('a member not put back after a removal: the owners are told, the member is not', () => {
    expect(whoIsTold('lifecycle.not-rejoined', options())).toEqual({ subject: false, primary: true });
  });

  it('a removal takes the member out at its start and back at its end', () => {
    expect(effectOf('removal', 'start')).toEqual({ operation: 'delete', event: 'lifecycle.left' });
    expect(effectOf('removal', 'end')).toEqual({ operation: 'add', event: 'lifecycle.joined' });
  });

  it('owners and managers: the primary is told of additions and removals, not of warnings', () => {
    expect(whoIsTold('lifecycle.owner-added', options())).toEqual({ subject: true, primary: true });
    expect(whoIsTold('lifecycle.manager-removal-soon', options())).toEqual({ subject: true, primary: false });
    expect(whoIsTold('lifecycle.owner-removed', options({}, { notifyOnRemove: false }))).toEqual({
      subject: false,
      primary: false,
    });
  });

  it('sameAsMembership applies the membership options to owners and managers', () => {
    const o = options(
      { notifyOnJoin: false, notifyOnLeave: true, daysBeforeLeave: 0 },
      { sameAsMembership: true },
    );
    expect(whoIsTold('lifecycle.owner-added', o)).toEqual({ subject: false, primary: false });
    expect(whoIsTold('lifecycle.owner-removed', o)).toEqual({ subject: true, primary: true });
    expect(whoIsTold('lifecycle.owner-removal-soon', o).subject).toBe(false);
  });
});
