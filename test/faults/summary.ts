/**
 * What each fault scenario injected and what came of it, recorded one JSON line per scenario
 * and printed as a table at the end of `npm run test:faults`.
 */
import { appendFileSync } from 'node:fs';

import { inject } from 'vitest';

export interface ScenarioSummary {
  scenario: string;
  /** The faults injected, e.g. "22 SIGKILLs (8 in search, 7 in delivery, 7 at random)". */
  faults: string;
  /** Directory changes made (or bad inputs given, for the configuration scenarios). */
  changes: number;
  /** Messages (or outcomes) expected, delivered, delivered more than once, never delivered. */
  expected: number;
  delivered: number;
  duplicated: number;
  lost: number;
}

export function record(summary: ScenarioSummary): void {
  appendFileSync(inject('faultsSummary'), `${JSON.stringify(summary)}\n`);
}

/** The delivered, duplicated and lost columns of {@link record} from a {@link tally}. */
export function counts(t: Tally): Pick<ScenarioSummary, 'delivered' | 'duplicated' | 'lost'> {
  return { delivered: t.delivered, duplicated: t.duplicated, lost: t.lost.length };
}

export function formatSummary(rows: ScenarioSummary[]): string {
  const header = ['scenario', 'faults injected', 'changes', 'expected', 'delivered', 'duplicated', 'lost'];
  const cells = rows.map((r) => [
    r.scenario,
    r.faults,
    String(r.changes),
    String(r.expected),
    String(r.delivered),
    String(r.duplicated),
    String(r.lost),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [
    'Fault suite summary',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    rows.length === 0 ? '(no scenario ran)' : '',
  ].join('\n');
}

export interface Tally {
  delivered: number;
  duplicated: number;
  lost: string[];
  copies: Map<string, number>;
}

/** Messages that carry each expected marker: how many arrived once, more than once, never. */
export function tally(
  expected: { to: string; marker: string }[],
  messages: { to: string[]; text: string }[],
): Tally {
  const copies = new Map<string, number>();
  for (const e of expected) {
    const n = messages.filter((m) => m.to.includes(e.to) && m.text.includes(e.marker)).length;
    copies.set(e.marker, n);
  }
  let delivered = 0;
  let duplicated = 0;
  const lost: string[] = [];
  for (const [marker, n] of copies) {
    if (n === 0) lost.push(marker);
    else delivered++;
    if (n > 1) duplicated += n - 1;
  }
  return { delivered, duplicated, lost, copies };
}
