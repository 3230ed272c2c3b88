/**
 * How a time is shown to people in messages: UTC, without the "T" and the milliseconds of
 * ISO 8601 ("2026-11-25 08:00:00 UTC"); schedules are shown to the minute.
 */
export function utcText(at: Date | string, precision: 'seconds' | 'minutes' = 'seconds'): string {
  const iso = typeof at === 'string' ? at : at.toISOString();
  const text = iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
  return `${precision === 'minutes' ? text.replace(/:\d\d$/, '') : text} UTC`;
}
