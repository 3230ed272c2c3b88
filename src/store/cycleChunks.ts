/**
 * A cycle's objects in chunks small enough to read their events back at once: at most so many
 * objects, and at most so many events (an object with more events than that is a chunk of its
 * own). Whoever works through a mass change this way never holds all its events.
 */
import type { EventLog } from './ports.js';

export interface ChunkLimits {
  objects: number;
  events: number;
}

export const CHUNK_LIMITS: ChunkLimits = { objects: 1_000, events: 20_000 };

export async function* objectChunks(
  events: Pick<EventLog, 'objectsOfCycle'>,
  cycleId: number,
  limits: ChunkLimits = CHUNK_LIMITS,
): AsyncGenerator<string[]> {
  let chunk: string[] = [];
  let size = 0;
  for (const { guid, events: count } of await events.objectsOfCycle(cycleId)) {
    if (chunk.length > 0 && (chunk.length >= limits.objects || size + count > limits.events)) {
      yield chunk;
      chunk = [];
      size = 0;
    }
    chunk.push(guid);
    size += count;
  }
  if (chunk.length > 0) yield chunk;
}
