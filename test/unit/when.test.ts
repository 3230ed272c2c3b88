/** `temp add --from/--until T`: what a time on the command line means, with no local-time guess. */
import { describe, expect, it } from 'vitest';

import { parseWhen } from '../../src/cli/temp.js';

const now = new Date('2026-12-01T08:00:00Z');

describe('parseWhen', () => {
  it.each([
    ['2026-12-05T09:00:00Z', '2026-12-05T09:00:00.000Z'],
    ['2026-12-05T09:00:00+01:00', '2026-12-05T08:00:00.000Z'],
    ['2026-12-05T09:00-05:00', '2026-12-05T14:00:00.000Z'],
    ['2026-12-05', '2026-12-05T00:00:00.000Z'], // a date alone: midnight UTC, as help says
    ['2h', '2026-12-01T10:00:00.000Z'],
  ])('%s is %s', (text, expected) => {
    expect(parseWhen(text, now, '--until').toISOString()).toBe(expected);
  });

  it.each(['2026-12-05T09:00:00', '2026-12-05T09:00', 'tomorrow', '2026-13-01'])(
    '%s is refused, saying an offset is needed',
    (text) => {
      expect(() => parseWhen(text, now, '--until')).toThrow(/with an offset \("Z" for UTC, or "\+01:00"\)/);
    },
  );
});
