/**
 * Events as lines for a terminal. Attribute values come from the directory and may hold
 * anything (CR/LF, escape sequences, megabytes): they are escaped and shortened here, so a
 * hostile value cannot forge output lines or flood the screen. `--json` prints them exactly.
 */
import { actorOfEvent } from '../core/correlate.js';
import type { AttributeChange } from '../core/events.js';
import { escapeInvisible } from '../core/visible.js';
import type { HistoryEvent } from '../store/ports.js';

const MAX_VALUE = 120;

/** Control characters shown as escapes; long values cut with a note of their length. */
export function safeText(value: string, max = MAX_VALUE): string {
  const escaped = escapeInvisible(value);
  return escaped.length <= max ? escaped : `${escaped.slice(0, max)}… (${value.length} chars)`;
}

/** A value in double quotes, escaped as in JSON (plus C1 controls and line separators), shortened. */
function quoted(value: string, max = MAX_VALUE): string {
  const cut = value.length <= max ? value : value.slice(0, max);
  const text = escapeInvisible(JSON.stringify(cut));
  return value.length <= max ? text : `${text}… (${value.length} chars)`;
}

function values(list: readonly string[]): string {
  if (list.length === 0) return '(none)';
  const shown = list.slice(0, 5).map((v) => quoted(v));
  return list.length > 5 ? `${shown.join(', ')} and ${list.length - 5} more` : shown.join(', ');
}

function change(c: AttributeChange): string {
  if ('redacted' in c) return `${c.attribute}: changed (redacted)`;
  if ('binary' in c) return `${c.attribute}: binary value changed`;
  return `${c.attribute}: ${values(c.before)} → ${values(c.after)}`;
}

/** Who made it, for the heading: " by Olga Operator (ACME\\oop)", " by (unknown)" or nothing. */
function by(event: HistoryEvent): string {
  const actor = actorOfEvent(event);
  if (actor === null) return event.actor === null ? '  by (unknown)' : '';
  const text =
    actor.name !== null
      ? `${actor.name}${actor.account !== null ? ` (${actor.account})` : ''}`
      : (actor.account ?? actor.dn ?? actor.sid ?? '?');
  return `  by ${safeText(text, 200)}${actor.serviceAccount ? " (adnotify's service account, not adnotify)" : ''}`;
}

/** One event as one heading line and, for modifications, one indented line per attribute. */
export function eventLines(event: HistoryEvent): string[] {
  const head = `${event.at}  #${event.id}  ${event.type.padEnd(20)} ${event.object.class} ${safeText(event.object.dn, 300)}${by(event)}`;
  switch (event.type) {
    case 'object.modified':
      return [head, ...event.changes.map((c) => `    ${change(c)}`)];
    case 'object.moved':
      return [
        head,
        `    from ${safeText(event.from, 300)}`,
        `    to   ${safeText(event.to, 300)}${event.leftScope ? ' (out of the watched scope)' : ''}`,
      ];
    case 'group.member.added':
    case 'group.member.removed':
      return [head, `    member ${event.member.class ?? '(not watched)'} ${safeText(event.member.dn, 300)}`];
    case 'object.created':
      return event.enteredScope ? [head, '    (existing object, now in the watched scope)'] : [head];
    case 'object.deleted':
      return [head];
    case 'lifecycle.joined':
    case 'lifecycle.left':
    case 'lifecycle.leaving-soon':
    case 'lifecycle.owner-added':
    case 'lifecycle.owner-removed':
    case 'lifecycle.owner-removal-soon':
    case 'lifecycle.manager-added':
    case 'lifecycle.manager-removed':
    case 'lifecycle.manager-removal-soon':
    case 'lifecycle.not-rejoined':
      return [
        head,
        `    ${event.subject.class ?? 'object'} ${safeText(event.subject.dn, 300)}  (schedule #${event.schedule}${event.until ? `, ${event.until}` : ''}${event.reason ? `, ${safeText(event.reason, 200)}` : ''})`,
      ];
  }
}
