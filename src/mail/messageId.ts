import { randomUUID } from 'node:crypto';

/**
 * A Message-ID for a new outbox message, in the sender's domain. It is stored with the
 * message, so a repeat after a crash carries the same ID and can be recognised as one.
 */
export function newMessageId(from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'adnotify.invalid';
  return `<${randomUUID()}@${domain}>`;
}
