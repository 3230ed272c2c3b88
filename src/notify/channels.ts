/**
 * From recorded events to outbox items for the channels besides mail, in the same transaction
 * as the mail: per chat channel (Teams, Slack) one post per object per cycle, per webhook one
 * POST per event, per SIEM sink one record per event in event order. Each channel's `events`
 * globs and `protectedOnly` choose what it gets. Items about protected groups are marked so
 * the flood guard never holds them; SIEM records it never holds at all.
 */
import { eventJson, eventsFor, SIEM_FILE, SIEM_SYSLOG, type EventJson } from '../core/channels.js';
import type { DirectoryEvent } from '../core/events.js';
import { teamsPayload, slackPayload, type CardView } from '../channels/cards.js';
import type { Config } from '../config/schema.js';
import { oneLine } from '../mail/render.js';
import type { OutboxStore } from '../store/ports.js';

export interface RecordedEvent {
  id: number;
  cycle: number;
  at: string;
  event: DirectoryEvent;
}

export interface ObjectItems {
  cycleId: number;
  createdAt: string;
  guid: string;
  events: readonly RecordedEvent[];
  /** A protected group (notify.protectedGroups): its items always go out. */
  isProtected: boolean;
  /** The card about some of the object's events (those a channel takes). */
  view: (events: readonly DirectoryEvent[]) => CardView;
}

const NO_ENVELOPE = { from: '', to: [], cc: [] };

/** Queues the chat posts and webhook calls about one object's events; returns how many. */
export async function queueObjectItems(
  outbox: OutboxStore,
  config: Pick<Config, 'channels'>,
  o: ObjectItems,
): Promise<number> {
  let count = 0;
  const typed = o.events.map((r) => ({ ...r, type: r.event.type }));
  for (const channel of config.channels) {
    const taken = eventsFor(channel, typed, o.isProtected);
    if (taken.length === 0) continue;
    const common = {
      cycleId: o.cycleId,
      status: 'pending' as const,
      objectGuid: o.guid,
      envelope: NO_ENVELOPE,
      html: '',
      channel: channel.name,
      ...(o.isProtected ? { protectedGroup: true } : {}),
    };
    if (channel.type === 'webhook') {
      for (const r of taken) {
        const json = eventJson(r);
        await outbox.add({
          ...common,
          createdAt: o.createdAt,
          kind: r.event.type,
          messageId: `evt_${r.id}`,
          subject: summary(json),
          text: JSON.stringify(json),
        });
        count++;
      }
      continue;
    }
    const view = o.view(taken.map((r) => r.event));
    await outbox.add({
      ...common,
      createdAt: o.createdAt,
      kind: channel.type,
      messageId: `post_${o.cycleId}_${o.guid}`,
      subject: oneLine(
        `${view.object.kind} ${view.object.name}: ${taken.length} change${taken.length === 1 ? '' : 's'}`,
      ),
      text: channel.type === 'teams' ? teamsPayload(view) : slackPayload(view),
    });
    count++;
  }
  return count;
}

/** Queues one SIEM record per event and sink, in the order given (the events' order). */
export async function queueSiemRecords(
  outbox: OutboxStore,
  config: Pick<Config, 'siem'>,
  events: readonly RecordedEvent[],
  isProtected: (guid: string) => boolean,
): Promise<number> {
  const sinks = [config.siem?.syslog ? SIEM_SYSLOG : null, config.siem?.file ? SIEM_FILE : null].filter(
    (s) => s !== null,
  );
  if (sinks.length === 0) return 0;
  for (const r of events) {
    const json = eventJson(r);
    const text = JSON.stringify(json);
    for (const sink of sinks) {
      await outbox.add({
        cycleId: r.cycle,
        createdAt: r.at,
        status: 'pending',
        kind: r.event.type,
        objectGuid: r.event.object.guid,
        messageId: `evt_${r.id}`,
        envelope: NO_ENVELOPE,
        subject: summary(json),
        text,
        html: '',
        channel: sink,
        ...(isProtected(r.event.object.guid) ? { protectedGroup: true } : {}),
      });
    }
  }
  return events.length * sinks.length;
}

function summary(json: EventJson): string {
  return oneLine(`${json.type} ${json.object.dn}`);
}
