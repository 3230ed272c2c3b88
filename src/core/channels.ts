/**
 * Where outbox items go besides mail, in the terms every store and transport share: the names
 * of the SIEM sinks, which event types a channel takes (its `events` globs and
 * `protectedOnly`), and an event as one item of `history --json`, the body webhooks and the
 * SIEM receive. Pure.
 */
import { actorOfEvent } from './correlate.js';
import type { Actor, DirectoryEvent } from './events.js';

/** The channel of all mail. */
export const MAIL = 'mail';

/** SIEM sinks are channels named "siem.<sink>"; a configured channel's name cannot hold a dot. */
export const SIEM_PREFIX = 'siem.';
export const SIEM_SYSLOG = 'siem.syslog';
export const SIEM_FILE = 'siem.file';

export function isSiemChannel(channel: string): boolean {
  return channel.startsWith(SIEM_PREFIX);
}

/** An event as `adnotify history --json` prints it: id, cycle, time, the event, and who made it. */
export type EventJson = { id: number; cycle: number; at: string } & DirectoryEvent & { actor: Actor | null };

export function eventJson(recorded: {
  id: number;
  cycle: number;
  at: string;
  event: DirectoryEvent;
}): EventJson {
  return {
    id: recorded.id,
    cycle: recorded.cycle,
    at: recorded.at,
    ...recorded.event,
    actor: actorOfEvent(recorded.event),
  };
}

/** "group.member.*" admits "group.member.added"; "*" admits everything; else an exact type. */
export function globMatches(glob: string, type: string): boolean {
  const pattern = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`).test(type);
}

export interface ChannelFilter {
  events: readonly string[];
  protectedOnly: boolean;
}

/** The events of one object a channel takes: by type, and only about protected groups if asked. */
export function eventsFor<E extends { type: string }>(
  filter: ChannelFilter,
  events: readonly E[],
  isProtectedGroup: boolean,
): E[] {
  if (filter.protectedOnly && !isProtectedGroup) return [];
  return events.filter((e) => filter.events.some((glob) => globMatches(glob, e.type)));
}
