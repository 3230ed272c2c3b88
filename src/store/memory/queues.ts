/** The outbox and the lifecycle schedules in memory (for tests): the SQLite ones' answers. */
import { isSiemChannel } from '../../core/channels.js';
import {
  noSchedules,
  type NewMessage,
  type NewSchedule,
  type OutboxCounts,
  type OutboxMessage,
  type OutboxStatus,
  type OutboxStore,
  type Schedule,
  type ScheduleCounts,
  type ScheduleState,
  type ScheduleStore,
  type Synchronous,
} from '../ports.js';

export interface QueueData {
  outbox: Map<number, OutboxMessage>;
  schedules: Map<number, Schedule>;
}

const byId = <T extends { id: number }>(a: T, b: T) => a.id - b.id;

/** A sender holds the message at `now`. */
const claimed = (m: OutboxMessage, now: string) => m.claimedUntil !== null && m.claimedUntil > now;

/** A table of rows by ID: where the rows live, and the next ID. */
abstract class MemoryTable {
  protected readonly data: () => QueueData;
  protected readonly nextId: () => number;

  constructor(data: () => QueueData, nextId: () => number) {
    this.data = data;
    this.nextId = nextId;
  }
}

export class MemoryOutbox extends MemoryTable implements Synchronous<OutboxStore> {
  #all(): OutboxMessage[] {
    return [...this.data().outbox.values()].sort(byId);
  }

  add(message: NewMessage): number {
    const id = this.nextId();
    this.data().outbox.set(id, {
      ...structuredClone(message),
      channel: message.channel ?? 'mail',
      protectedGroup: message.protectedGroup === true,
      id,
      attempts: 0,
      nextAttemptAt: message.createdAt,
      lastError: null,
      sentAt: null,
      claimedUntil: null,
      claimedBy: null,
    });
    return id;
  }

  due(now: string, limit = 500, channel?: string): OutboxMessage[] {
    return this.#all()
      .filter(
        (m) =>
          m.status === 'pending' &&
          (channel === undefined || m.channel === channel) &&
          (m.nextAttemptAt === null || m.nextAttemptAt <= now) &&
          !claimed(m, now),
      )
      .slice(0, limit)
      .map((m) => structuredClone(m));
  }

  get(id: number): OutboxMessage | undefined {
    const message = this.data().outbox.get(id);
    return message && structuredClone(message);
  }

  list(status?: OutboxStatus): OutboxMessage[] {
    return this.#all()
      .filter((m) => status === undefined || m.status === status)
      .map((m) => structuredClone(m));
  }

  counts(): OutboxCounts {
    const counts: OutboxCounts = { pending: 0, held: 0, digest: 0, sent: 0, failed: 0 };
    for (const m of this.data().outbox.values()) counts[m.status]++;
    return counts;
  }

  waitingByChannel(): Map<string, number> {
    const out = new Map<string, number>();
    for (const m of this.data().outbox.values()) {
      if (m.status === 'pending' || m.status === 'held') out.set(m.channel, (out.get(m.channel) ?? 0) + 1);
    }
    return out;
  }

  #update(id: number, change: Partial<OutboxMessage>): void {
    const message = this.data().outbox.get(id);
    if (message) Object.assign(message, change);
  }

  claim(id: number, now: string, until: string, owner: string): boolean {
    const message = this.data().outbox.get(id);
    if (message?.status !== 'pending' || claimed(message, now)) return false;
    message.claimedUntil = until;
    message.claimedBy = owner;
    return true;
  }

  releaseClaims(gone: (owner: string) => boolean): number {
    return this.#where((m) => m.claimedUntil !== null && m.claimedBy !== null && gone(m.claimedBy), {
      claimedUntil: null,
      claimedBy: null,
    });
  }

  markSent(id: number, at: string, attempts: number): void {
    this.#update(id, {
      status: 'sent',
      sentAt: at,
      attempts,
      nextAttemptAt: null,
      lastError: null,
      claimedUntil: null,
      claimedBy: null,
    });
  }

  markRetry(id: number, attempts: number, nextAttemptAt: string, error: string): void {
    this.#update(id, { attempts, nextAttemptAt, lastError: error, claimedUntil: null, claimedBy: null });
  }

  markWaiting(id: number, error: string): void {
    this.#update(id, { lastError: error, claimedUntil: null, claimedBy: null });
  }

  markFailed(id: number, attempts: number, error: string): void {
    this.#update(id, {
      status: 'failed',
      attempts,
      nextAttemptAt: null,
      lastError: error,
      claimedUntil: null,
      claimedBy: null,
    });
  }

  #where(test: (m: OutboxMessage) => boolean, change: Partial<OutboxMessage>): number {
    const matching = this.#all().filter(test);
    for (const m of matching) Object.assign(m, change);
    return matching.length;
  }

  retry(id: number | 'all', now: string): number {
    return this.#where((m) => m.status === 'failed' && (id === 'all' || m.id === id), {
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      lastError: null,
    });
  }

  holdCycle(cycleId: number): number {
    return this.#where(
      (m) =>
        m.cycleId === cycleId && m.status === 'pending' && !m.protectedGroup && !isSiemChannel(m.channel),
      { status: 'held' },
    );
  }

  markDigested(ids: readonly number[], at: string): number {
    const wanted = new Set(ids);
    return this.#where((m) => m.status === 'digest' && wanted.has(m.id), {
      status: 'sent',
      sentAt: at,
      nextAttemptAt: null,
    });
  }

  release(now: string, cycleId?: number): number {
    return this.#where((m) => m.status === 'held' && (cycleId === undefined || m.cycleId === cycleId), {
      status: 'pending',
      nextAttemptAt: now,
    });
  }

  discard(which: number | 'held' | 'failed', now: string): number {
    const doomed = this.#all().filter((m) =>
      typeof which === 'number'
        ? m.id === which && m.status !== 'sent' && !claimed(m, now)
        : m.status === which,
    );
    for (const m of doomed) this.data().outbox.delete(m.id);
    return doomed.length;
  }
}

export class MemorySchedules extends MemoryTable implements Synchronous<ScheduleStore> {
  #all(): Schedule[] {
    return [...this.data().schedules.values()].sort(byId);
  }

  add(s: NewSchedule): number {
    const id = this.nextId();
    this.data().schedules.set(id, {
      ...s,
      id,
      state: 'scheduled',
      resumeFrom: null,
      failures: 0,
      warnedAt: null,
      lastError: null,
      updatedAt: s.createdAt,
      startChanged: null,
    });
    return id;
  }

  get(id: number): Schedule | undefined {
    const s = this.data().schedules.get(id);
    return s && { ...s };
  }

  pending(): Schedule[] {
    return this.#all()
      .filter(
        (s) =>
          s.state === 'scheduled' || s.state === 'active' || (s.state === 'failed' && s.resumeFrom !== null),
      )
      .map((s) => ({ ...s }));
  }

  list(all = false): Schedule[] {
    return this.#all()
      .filter((s) => all || s.state === 'scheduled' || s.state === 'active' || s.state === 'failed')
      .map((s) => ({ ...s }));
  }

  counts(): ScheduleCounts {
    const out = noSchedules();
    for (const s of this.data().schedules.values())
      out[s.state === 'failed' && s.resumeFrom === null ? 'failed-final' : s.state]++;
    return out;
  }

  /** Compare-and-set: changes the schedule only while it is still in `from`. */
  #update(id: number, from: ScheduleState, change: (s: Schedule) => Partial<Schedule>): boolean {
    const s = this.data().schedules.get(id);
    if (s?.state !== from) return false;
    Object.assign(s, change(s));
    return true;
  }

  setState(
    id: number,
    from: ScheduleState,
    state: ScheduleState,
    at: string,
    note: string | null = null,
  ): boolean {
    return this.#update(id, from, () => ({
      state,
      resumeFrom: null,
      failures: 0,
      lastError: note,
      updatedAt: at,
    }));
  }

  setWarned(id: number, from: ScheduleState, at: string): boolean {
    return this.#update(id, from, (s) => ({
      warnedAt: at,
      state: s.resumeFrom ?? s.state,
      resumeFrom: null,
      failures: 0,
      lastError: null,
      updatedAt: at,
    }));
  }

  recordStart(id: number, changed: boolean): void {
    const s = this.data().schedules.get(id);
    if (s) s.startChanged = changed;
  }

  setFailed(
    id: number,
    from: ScheduleState,
    error: string,
    resumeFrom: 'scheduled' | 'active' | null,
    at: string,
  ): boolean {
    return this.#update(id, from, (s) => ({
      state: 'failed',
      resumeFrom,
      failures: s.failures + 1,
      lastError: error,
      updatedAt: at,
    }));
  }
}
