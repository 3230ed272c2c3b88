import { describe, expect, it } from 'vitest';

import { fromFiletime, reminderDue } from '../../src/core/passwordExpiry.js';

const DAY = 86_400_000;
const now = new Date('2026-11-25T08:00:00Z');
const inDays = (d: number) => new Date(now.getTime() + d * DAY);
const T = [14, 7, 3, 1];

describe('reminderDue', () => {
  it.each([
    { left: 20, recorded: [], expected: undefined },
    { left: 14, recorded: [], expected: { threshold: 14, daysLeft: 14, passed: [] } },
    { left: 10, recorded: [14], expected: undefined },
    { left: 6.5, recorded: [14], expected: { threshold: 7, daysLeft: 6, passed: [] } },
    { left: 2, recorded: [], expected: { threshold: 3, daysLeft: 2, passed: [7, 14] } },
    { left: 2, recorded: [3], expected: undefined },
    { left: 0.5, recorded: [14, 7, 3], expected: { threshold: 1, daysLeft: 0, passed: [] } },
    { left: -1, recorded: [], expected: undefined },
  ])('$left days left, recorded $recorded', ({ left, recorded, expected }) => {
    expect(reminderDue(inDays(left), now, T, new Set(recorded))).toEqual(expected);
  });
});

describe('fromFiletime', () => {
  it('converts FILETIME and recognises "never" and "not set"', () => {
    expect(fromFiletime('134400465198897980')?.toISOString()).toBe('2026-11-25T02:15:19.889Z');
    expect(fromFiletime('9223372036854775807')).toBeUndefined();
    expect(fromFiletime('0')).toBeUndefined();
    expect(fromFiletime('junk')).toBeUndefined();
  });
});
