/**
 * Every port of ports.ts in memory, for tests of the app layer (poll cycles, notifications,
 * jobs) that need no SQLite file. A transaction copies the data first and puts the copy back
 * when the work fails, so a failed cycle commits nothing here either.
 */
import { randomBytes } from 'node:crypto';

import type { AuditRecord } from '../../core/audit.js';
import type { StoredAuditRecord } from '../../core/correlate.js';
import type { DirectoryEvent } from '../../core/events.js';
import type { DirectoryIdentity } from '../../core/types.js';
import {
  openedCycle,
  promisedPort,
  settled,
  type OutboxStore,
  type ScheduleStore,
  type SnapshotStore,
  type CycleKind,
  type CycleLog,
  type CycleRecord,
  type DirectoryState,
  type EventLog,
  type HistoryEvent,
  type LastRun,
  type PruneCounts,
  type AuditPosition,
  type AuditStore,
  type ReminderRecord,
  type ReminderStore,
  type StateStore,
  type Synchronous,
} from '../ports.js';
import { MemoryOutbox, MemorySchedules, type QueueData } from './queues.js';
import { emptySnapshot, MemorySnapshot, type SnapshotData } from './snapshot.js';

interface Data extends SnapshotData, QueueData {
  events: Map<number, { cycle: number; at: string; event: DirectoryEvent }>;
  cycles: Map<number, CycleRecord>;
  directoryState: DirectoryState | undefined;
  lastRun: LastRun | undefined;
  meta: Map<string, string>;
  reminders: Map<string, 'sent' | 'passed'>;
  audit: { positions: AuditPosition[]; records: Map<number, StoredAuditRecord & { used: boolean }> };
  /** The next row ID of each table (each counts from 1, as SQLite's do). */
  ids: Record<'events' | 'cycles' | 'outbox' | 'schedules' | 'audit', number>;
}

export class MemoryStore implements StateStore {
  #data: Data = {
    ...emptySnapshot(),
    events: new Map(),
    cycles: new Map(),
    directoryState: undefined,
    lastRun: undefined,
    meta: new Map([['redactionKey', randomBytes(32).toString('hex')]]),
    reminders: new Map(),
    audit: { positions: [], records: new Map() },
    outbox: new Map(),
    schedules: new Map(),
    ids: { events: 1, cycles: 1, outbox: 1, schedules: 1, audit: 1 },
  };
  #inTransaction = false;
  #closed = false;
  readonly snapshot = promisedPort<SnapshotStore>(new MemorySnapshot(() => this.#data));
  readonly events = promisedPort<EventLog>(new MemoryEventLog(() => this.#data));
  readonly cycles = promisedPort<CycleLog>(new MemoryCycleLog(() => this.#data));
  readonly outbox = promisedPort<OutboxStore>(
    new MemoryOutbox(
      () => this.#data,
      () => this.#data.ids.outbox++,
    ),
  );
  readonly schedules = promisedPort<ScheduleStore>(
    new MemorySchedules(
      () => this.#data,
      () => this.#data.ids.schedules++,
    ),
  );
  readonly reminders = promisedPort<ReminderStore>(new MemoryReminders(() => this.#data));
  /** One instance by design: no lease, nothing to fence. */
  readonly lease = null;
  /** No tables to copy: migrate-state works between SQLite and PostgreSQL. */
  readonly tables = null;
  readonly audit = promisedPort<AuditStore>(new MemoryAudit(() => this.#data));

  fence(): void {
    // One instance by design: nothing to fence.
  }

  assertLeader(): Promise<void> {
    return Promise.resolve();
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inTransaction) throw new Error('transactions do not nest');
    const saved = structuredClone(this.#data);
    this.#inTransaction = true;
    try {
      return await work();
    } catch (err: unknown) {
      this.#data = saved;
      throw err;
    } finally {
      this.#inTransaction = false;
    }
  }

  prune(before: string): Promise<PruneCounts> {
    return settled(() => this.#prune(before));
  }

  #prune(before: string): PruneCounts {
    const data = this.#data;
    let events = 0;
    let messages = 0;
    let cycles = 0;
    for (const [id, e] of data.events) if (e.at < before && data.events.delete(id)) events++;
    for (const [id, m] of data.outbox) {
      if (m.status === 'sent' && (m.sentAt ?? m.createdAt) < before && data.outbox.delete(id)) messages++;
    }
    const used = new Set([
      ...[...data.events.values()].map((e) => e.cycle),
      ...[...data.outbox.values()].map((m) => m.cycleId),
    ]);
    for (const [id, c] of data.cycles)
      if (c.startedAt < before && !used.has(id) && data.cycles.delete(id)) cycles++;
    return { events, messages, cycles };
  }

  /** Whether close() was called (a test can check that its subject closes what it opens). */
  get closed(): boolean {
    return this.#closed;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

class MemoryEventLog implements Synchronous<EventLog> {
  readonly #data: () => Data;

  constructor(data: () => Data) {
    this.#data = data;
  }

  add(cycleId: number, at: string, event: DirectoryEvent): number {
    const id = this.#data().ids.events++;
    this.#data().events.set(id, { cycle: cycleId, at, event: structuredClone(event) });
    return id;
  }

  replace(id: number, event: DirectoryEvent): void {
    const row = this.#data().events.get(id);
    if (row) row.event = structuredClone(event);
  }

  delete(id: number): void {
    this.#data().events.delete(id);
  }

  #ofCycle(cycleId: number) {
    return [...this.#data().events.values()].filter((e) => e.cycle === cycleId);
  }

  objectsOfCycle(cycleId: number): { guid: string; events: number }[] {
    const out = new Map<string, number>();
    for (const { event } of this.#ofCycle(cycleId))
      out.set(event.object.guid, (out.get(event.object.guid) ?? 0) + 1);
    return [...out].map(([guid, events]) => ({ guid, events }));
  }

  ofCycle(cycleId: number, objectGuids: readonly string[]): DirectoryEvent[] {
    const wanted = new Set(objectGuids);
    return this.#ofCycle(cycleId)
      .filter((e) => wanted.has(e.event.object.guid))
      .map((e) => structuredClone(e.event));
  }

  recordedOfCycle(
    cycleId: number,
    objectGuids: readonly string[],
  ): { id: number; at: string; event: DirectoryEvent }[] {
    const wanted = new Set(objectGuids);
    return [...this.#data().events]
      .filter(([, e]) => e.cycle === cycleId && wanted.has(e.event.object.guid))
      .map(([id, e]) => ({ id, at: e.at, event: structuredClone(e.event) }));
  }

  pageOfCycle(
    cycleId: number,
    afterId: number,
    limit: number,
  ): { id: number; at: string; event: DirectoryEvent }[] {
    return [...this.#data().events]
      .filter(([id, e]) => e.cycle === cycleId && id > afterId)
      .sort(([a], [b]) => a - b)
      .slice(0, limit)
      .map(([id, e]) => ({ id, at: e.at, event: structuredClone(e.event) }));
  }

  typesOfCycle(cycleId: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const { event } of this.#ofCycle(cycleId)) out.set(event.type, (out.get(event.type) ?? 0) + 1);
    return out;
  }

  since(since: string): HistoryEvent[] {
    return [...this.#data().events]
      .filter(([, e]) => e.at >= since)
      .map(([id, e]) => ({ id, cycle: e.cycle, at: e.at, ...structuredClone(e.event) }));
  }
}

class MemoryCycleLog implements Synchronous<CycleLog> {
  readonly #data: () => Data;

  constructor(data: () => Data) {
    this.#data = data;
  }

  directoryState(): DirectoryState | undefined {
    const state = this.#data().directoryState;
    return state && { ...state };
  }

  setDirectoryState(identity: DirectoryIdentity, cursor: bigint, at: string, baselineAt: string): void {
    this.#data().directoryState = {
      url: identity.url,
      dsServiceName: identity.dsServiceName,
      invocationId: identity.invocationId,
      usnCursor: cursor,
      baselineAt,
      updatedAt: at,
    };
  }

  setCursor(cursor: bigint, at: string): void {
    const state = this.#data().directoryState;
    if (state) Object.assign(state, { usnCursor: cursor, updatedAt: at });
  }

  begin(kind: CycleKind, startedAt: string): number {
    const id = this.#data().ids.cycles++;
    this.#data().cycles.set(id, openedCycle(kind, startedAt));
    return id;
  }

  finish(id: number, cycle: Omit<CycleRecord, 'kind' | 'startedAt'>): void {
    const row = this.#data().cycles.get(id);
    if (!row) return;
    const { finishedAt, durationMs, outcome, objects, groups, memberships, events, error } = cycle;
    Object.assign(row, { finishedAt, durationMs, outcome, objects, groups, memberships, events, error });
  }

  setLastRun(run: LastRun): void {
    const { kind, startedAt, finishedAt, durationMs, outcome, events, error } = run;
    this.#data().lastRun = { kind, startedAt, finishedAt, durationMs, outcome, events, error };
  }

  lastRun(): LastRun | undefined {
    const run = this.#data().lastRun;
    return run && { ...run };
  }

  getMeta(key: string): string | undefined {
    return this.#data().meta.get(key);
  }

  setMeta(key: string, value: string): void {
    this.#data().meta.set(key, value);
  }

  redactionKey(): Uint8Array {
    return Buffer.from(this.getMeta('redactionKey') ?? '', 'hex');
  }
}

class MemoryReminders implements Synchronous<ReminderStore> {
  readonly #data: () => Data;

  constructor(data: () => Data) {
    this.#data = data;
  }

  recorded(userGuid: string, expiresAt: string): Set<number> {
    const prefix = `${userGuid}\u0000${expiresAt}\u0000`;
    return new Set(
      [...this.#data().reminders.keys()]
        .filter((k) => k.startsWith(prefix))
        .map((k) => Number(k.slice(prefix.length))),
    );
  }

  record(r: ReminderRecord): void {
    const key = `${r.userGuid}\u0000${r.expiresAt}\u0000${r.threshold}`;
    if (!this.#data().reminders.has(key)) this.#data().reminders.set(key, r.outcome);
  }
}

class MemoryAudit implements Synchronous<AuditStore> {
  readonly #data: () => Data;

  constructor(data: () => Data) {
    this.#data = data;
  }

  positions(): AuditPosition[] {
    return this.#data().audit.positions.map((p) => ({ ...p }));
  }

  setPositions(positions: readonly AuditPosition[]): void {
    this.#data().audit.positions = positions.map((p) => ({ ...p }));
  }

  add(records: readonly AuditRecord[]): void {
    for (const r of records) {
      const id = this.#data().ids.audit++;
      this.#data().audit.records.set(id, { ...structuredClone(r), id, used: false });
    }
  }

  unused(since: string): StoredAuditRecord[] {
    return [...this.#data().audit.records.values()]
      .filter((r) => !r.used && r.at >= since)
      .sort((a, b) => a.at.localeCompare(b.at) || a.id - b.id)
      .map((r) => {
        const copy: StoredAuditRecord & { used?: boolean } = structuredClone(r);
        delete copy.used;
        return copy;
      });
  }

  markUsed(ids: readonly number[]): void {
    for (const id of ids) {
      const r = this.#data().audit.records.get(id);
      if (r) r.used = true;
    }
  }

  prune(before: string): number {
    let n = 0;
    for (const [id, r] of this.#data().audit.records)
      if (r.at < before && this.#data().audit.records.delete(id)) n++;
    return n;
  }
}
