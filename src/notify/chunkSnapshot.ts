/**
 * The snapshot as one chunk of a cycle's notifications reads it. Gathering the facts reads
 * each changed object again (its owners, manager, name: the owners' check of the public groups
 * first, then the facts and recipients of each object), and one query per object is nothing
 * on SQLite (about 50 µs) but a round trip on PostgreSQL: an incremental cycle of 2,000
 * changes made 3,900 single-object reads there, 0.7 s of its 2.1 s (npm run bench, 20,000
 * users). The chunk's objects (at most CHUNK_LIMITS.objects) are read up front, a few hundred
 * to a query, and held for the chunk; those the applier kept in memory (cycle.written) are
 * used as they are.
 */
import type { SnapshotObject } from '../core/snapshot.js';
import type { SnapshotStore } from '../store/ports.js';

export type SnapshotReads = Pick<
  SnapshotStore,
  'getObject' | 'getObjects' | 'members' | 'classOf' | 'classesOf'
>;

/** Objects per query. */
const PREFETCH = 500;

export class ChunkSnapshot implements SnapshotReads {
  readonly #snapshot: SnapshotReads;
  readonly #written: ReadonlyMap<string, SnapshotObject>;
  /** Read ahead: the object, or null when the snapshot does not hold it. */
  readonly #objects = new Map<string, SnapshotObject | null>();

  constructor(snapshot: SnapshotReads, written: ReadonlyMap<string, SnapshotObject> = new Map()) {
    this.#snapshot = snapshot;
    this.#written = written;
  }

  /** Reads those of `guids` neither read yet nor kept in memory. */
  async prefetch(guids: Iterable<string>): Promise<void> {
    const wanted = [...new Set(guids)].filter((guid) => !this.#objects.has(guid) && !this.#written.has(guid));
    for (let i = 0; i < wanted.length; i += PREFETCH) {
      const slice = wanted.slice(i, i + PREFETCH);
      const found = await this.#snapshot.getObjects(slice);
      for (const guid of slice) this.#objects.set(guid, found.get(guid) ?? null);
    }
  }

  async getObject(guid: string): Promise<SnapshotObject | undefined> {
    const known = this.#written.get(guid) ?? this.#objects.get(guid);
    if (known !== undefined) return known ?? undefined;
    return this.#snapshot.getObject(guid);
  }

  /** Those of `guids` the snapshot holds: what is held here as it is, the rest in one read. */
  async getObjects(guids: readonly string[]): Promise<Map<string, SnapshotObject>> {
    const found = new Map<string, SnapshotObject>();
    const unknown: string[] = [];
    for (const guid of guids) {
      const known = this.#written.get(guid) ?? this.#objects.get(guid);
      if (known === undefined) unknown.push(guid);
      else if (known !== null) found.set(guid, known);
    }
    if (unknown.length > 0)
      for (const [guid, o] of await this.#snapshot.getObjects(unknown)) found.set(guid, o);
    return found;
  }

  members(groupGuid: string): ReturnType<SnapshotStore['members']> {
    return this.#snapshot.members(groupGuid);
  }

  classOf(guid: string): Promise<string | null> {
    return this.#snapshot.classOf(guid);
  }

  classesOf(guids: readonly string[]): ReturnType<SnapshotStore['classesOf']> {
    return this.#snapshot.classesOf(guids);
  }
}
