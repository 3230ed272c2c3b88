/**
 * Which password reminder is due (docs/design.md, "Jobs"): a user whose password expires within
 * the largest threshold gets one reminder per threshold per expiry date; first seen past
 * several thresholds at once, one reminder for the nearest, the others recorded as passed.
 * Pure: the expiry dates come from the directory, `now` from the caller's clock.
 */

const DAY_MS = 86_400_000;
/** FILETIME (100 ns since 1601-01-01 UTC) of the Unix epoch. */
const EPOCH_FILETIME = 116_444_736_000_000_000n;
/** msDS-UserPasswordExpiryTimeComputed for "never expires". */
const NEVER = 0x7fff_ffff_ffff_ffffn;

/** msDS-UserPasswordExpiryTimeComputed to a date; undefined for "never" and "not set". */
export function fromFiletime(text: string): Date | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const ticks = BigInt(text);
  if (ticks === 0n || ticks >= NEVER) return undefined;
  return new Date(Number((ticks - EPOCH_FILETIME) / 10_000n));
}

export interface Reminder {
  /** The threshold (days) the reminder is for: the nearest one crossed. */
  threshold: number;
  /** Whole days left (0: it expires within a day). */
  daysLeft: number;
  /** Other thresholds crossed at the same time, recorded without a message. */
  passed: number[];
}

/**
 * The reminder due now for a password expiring at `expiresAt`, given the thresholds already
 * recorded for that expiry date; undefined when none is due (not yet within a threshold,
 * already expired, or the nearest threshold already handled).
 */
export function reminderDue(
  expiresAt: Date,
  now: Date,
  thresholds: readonly number[],
  recorded: ReadonlySet<number>,
): Reminder | undefined {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) return undefined;
  const crossed = [...new Set(thresholds)].filter((t) => left <= t * DAY_MS).sort((a, b) => a - b);
  const nearest = crossed[0];
  if (nearest === undefined || recorded.has(nearest)) return undefined;
  return {
    threshold: nearest,
    daysLeft: Math.floor(left / DAY_MS),
    passed: crossed.slice(1).filter((t) => !recorded.has(t)),
  };
}
