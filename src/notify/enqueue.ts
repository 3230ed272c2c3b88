/**
 * The one way a rendered message enters the outbox, whoever produced it (a poll cycle, a
 * lifecycle step, a password reminder, a health alert): from smtp.from, with a fresh
 * Message-ID, pending unless the caller holds it.
 */
import type { RenderedMessage } from '../mail/render.js';
import { newMessageId } from '../mail/messageId.js';
import type { OutboxStore } from '../store/ports.js';

export interface Outgoing {
  /** The cycle (or lifecycle run) it belongs to; null for reminders and alerts. */
  cycleId: number | null;
  createdAt: string;
  /** The template kind, or `admin-copy` / `health` (shown by `outbox list`). */
  kind: string;
  objectGuid: string | null;
  to: readonly string[];
  cc?: readonly string[];
  /** About a protected group: never held by the flood guard. */
  protectedGroup?: boolean;
}

/** Queues `rendered` as pending; returns the message's outbox ID. */
export async function enqueue(
  outbox: OutboxStore,
  from: string,
  message: Outgoing,
  rendered: RenderedMessage,
): Promise<number> {
  return outbox.add({
    cycleId: message.cycleId,
    createdAt: message.createdAt,
    status: 'pending',
    kind: message.kind,
    objectGuid: message.objectGuid,
    messageId: newMessageId(from),
    envelope: { from, to: [...message.to], cc: [...(message.cc ?? [])] },
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
    ...(message.protectedGroup === true ? { protectedGroup: true } : {}),
  });
}
