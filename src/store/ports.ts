/**
 * The state adnotify keeps, as ports that speak in domain types: the snapshot, the event log,
 * the cycle metadata (cursor, DC identity, last run, settings), the outbox, the lifecycle
 * schedules and the password reminders. `store/sqlite/` implements them on one SQLite file;
 * `store/memory/` in memory, for tests. Each consumer asks for the ports it uses (for example
 * `Pick<StateStore, 'snapshot' | 'events'>`), never for an implementation.
 *
 * Over 300 lines on purpose: the whole state contract in one place, every method with its
 * meaning, so that a new implementation (PostgreSQL) is written against one file.
 */
import type { AuditRecord } from '../core/audit.js';
import type { StoredAuditRecord } from '../core/correlate.js';
import type { DirectoryEvent } from '../core/events.js';
import type { ScheduleKind, ScheduleState } from '../core/lifecycle.js';
import type { SnapshotObject, StoredMember } from '../core/snapshot.js';
import type { DirectoryIdentity, MemberRef } from '../core/types.js';

export type { ScheduleKind, ScheduleState } from '../core/lifecycle.js';

/** Every part of the state, and the transaction that spans them. */
export interface StateStore {
  readonly snapshot: SnapshotStore;
  readonly events: EventLog;
  readonly cycles: CycleLog;
  readonly outbox: OutboxStore;
  readonly schedules: ScheduleStore;
  readonly reminders: ReminderStore;
  readonly audit: AuditStore;
  /**
   * Runs `work` in one write transaction: everything it writes, in any part, commits together
   * or not at all. Transactions do not nest; cycles and jobs never overlap.
   */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /**
   * The leader lease of an active/standby pair (PostgreSQL), or null where there is one
   * instance by design (SQLite: one file on one machine).
   */
  readonly lease: LeaseStore | null;
  /**
   * Fences every later transaction with the lease `held` (or none with null): one commits only
   * while `held.instance` still holds the lease with `held.token`, unexpired, and otherwise
   * rolls back with {@link DeposedError}. A leader paused or cut off past its lease and waking
   * up late commits nothing. A no-op without a lease.
   */
  fence(held: HeldLease | null): void;
  /**
   * Throws {@link DeposedError} unless the lease this store is fenced with is still held: for
   * a write outside the state (the lifecycle job's directory change), checked just before it.
   * Inside a transaction the lease cannot change hands until the transaction ends. A no-op
   * without a lease or a fence.
   */
  assertLeader(): Promise<void>;
  /**
   * Removes what is older than `before` (ISO time) and no longer needed: events, sent messages
   * (their bodies are personal data) and the cycles nothing refers to any more.
   */
  prune(before: string): Promise<PruneCounts>;
  /**
   * The state's tables as rows, to copy it to another store (migrate-state); null where the
   * store has no tables (the in-memory one of the tests).
   */
  readonly tables: StateTables | null;
  close(): Promise<void>;
}

/**
 * Every table of the state, in an order that keeps references valid (cycles before the events
 * and messages that name them). Both stores have these tables with these columns; the lease
 * tables are not state and are not copied.
 */
export const STATE_TABLES = [
  'meta',
  'directory_state',
  'objects',
  'containers',
  'memberships',
  'cycles',
  'last_run',
  'events',
  'outbox',
  'password_reminders',
  'schedules',
  'audit_records',
  'audit_positions',
] as const;

export type StateTable = (typeof STATE_TABLES)[number];

/** One row by column name: text, integers (BigInt where they may exceed 2^53), flags, null. */
export type StateRow = Record<string, string | number | bigint | boolean | null>;

export interface StateTables {
  /** Whether the state holds anything but its own settings (meta): a target must not. */
  isEmpty(): Promise<boolean>;
  /** A table's rows, `batch` at a time, in primary key order. */
  read(table: StateTable, batch: number): AsyncIterable<StateRow[]>;
  /**
   * Adds rows as they are (ids included; meta replaces the keys it has, such as the redaction
   * key made with a new state). Inside transaction().
   */
  write(table: StateTable, rows: StateRow[]): Promise<void>;
}

export interface HeldLease {
  instance: string;
  token: bigint;
}

/** The lease row, as the database has it. Times are ISO 8601, of the database's clock. */
export interface LeaseState {
  holder: string | null;
  token: bigint;
  since: string | null;
  heartbeatAt: string | null;
  expiresAt: string | null;
  /** Whether the lease is held and unexpired, by the database's clock. */
  live: boolean;
  /**
   * Whether this process holds it (live): not merely an instance of the same name, as when
   * two processes are given one ha.instance by mistake.
   */
  mine: boolean;
}

export interface InstanceRecord {
  instance: string;
  role: 'leader' | 'standby';
  heartbeatAt: string;
}

export interface LeaseStore {
  /**
   * Takes the lease for `instance` for `seconds` when nobody holds it or its holder let it
   * expire (a new token then), or renews it when `instance` holds it (same token). Returns the
   * lease as it is after: held by `instance` or by another.
   */
  acquire(instance: string, seconds: number): Promise<LeaseState>;
  /** Gives the lease up (a clean stop), so that a standby takes over at once. */
  release(instance: string, token: bigint): Promise<void>;
  /** Records that `instance` is alive in `role` (status lists the instances). */
  heartbeat(instance: string, role: 'leader' | 'standby'): Promise<void>;
  /** The lease and every instance seen in the last `withinSeconds`. */
  view(withinSeconds: number): Promise<{ lease: LeaseState; instances: InstanceRecord[] }>;
}

export interface PruneCounts {
  events: number;
  messages: number;
  cycles: number;
}

// ---------------------------------------------------------------------------------------------
// The snapshot: watched objects by objectGUID, group memberships, and the containers above them.

export interface SnapshotCounts {
  objects: number;
  groups: number;
  containers: number;
  memberships: number;
}

export interface SnapshotStore {
  getObject(guid: string): Promise<SnapshotObject | undefined>;
  /**
   * The stored objects among `guids`, in one read: a cycle asks for a whole search page at
   * once, so that a network database's round trip per object does not set its pace.
   */
  getObjects(guids: readonly string[]): Promise<Map<string, SnapshotObject>>;
  putObject(object: SnapshotObject): Promise<void>;
  /** Removes an object and, when it is a group, its memberships. */
  deleteObject(guid: string): Promise<void>;
  /** The object's structural class, or null when the snapshot does not hold it. */
  classOf(guid: string): Promise<string | null>;
  /** The classes of those of `guids` the snapshot holds, in one read. */
  classesOf(guids: readonly string[]): Promise<Map<string, string>>;
  /** Every GUID in the snapshot (a resync looks for the ones the directory no longer has). */
  objectGuids(): Promise<string[]>;
  /** Snapshot objects strictly beneath `dn`. */
  objectsBeneath(dn: string): Promise<SnapshotObject[]>;

  /** A group's stored members; a member without a GUID has `guid: null`. */
  members(groupGuid: string): Promise<StoredMember[]>;
  /** The stored members of many groups at once (a search page's); every group is a key. */
  membersOf(groupGuids: readonly string[]): Promise<Map<string, StoredMember[]>>;
  /** Replaces a group's stored members; a member without a GUID is keyed by its DN. */
  replaceMemberships(groupGuid: string, members: readonly MemberRef[]): Promise<void>;
  /** Writes only the difference between `before` (what is stored) and `after`. */
  updateMemberships(
    groupGuid: string,
    before: readonly StoredMember[],
    after: readonly MemberRef[],
  ): Promise<void>;
  /** GUIDs of the groups holding `memberKey` (a GUID, or "dn:<dn>" for a member without one). */
  groupsContaining(memberKey: string): Promise<string[]>;
  /** The DN last known for a member, from any group it is in. */
  memberDn(memberKey: string): Promise<string | undefined>;
  deleteMembership(groupGuid: string, memberKey: string): Promise<void>;
  /** A member renamed or moved: the memberships that name it follow. */
  setMemberDn(memberGuid: string, dn: string): Promise<void>;

  putContainer(guid: string, dn: string): Promise<void>;
  containerDn(guid: string): Promise<string | undefined>;
  containerGuids(): Promise<string[]>;
  deleteContainer(guid: string): Promise<void>;
  /** Forgets containers at or beneath `dn` (they left the watched scope). */
  deleteContainersWithin(dn: string): Promise<void>;
  /**
   * A container was renamed or moved from `from` to `to`: every stored DN beneath it follows
   * (objects, containers, member DNs). Returns how many objects moved with it.
   */
  renameSubtree(from: string, to: string): Promise<number>;
  /** Empties the snapshot (objects, containers, memberships) before a new baseline. */
  clear(): Promise<void>;
  counts(): Promise<SnapshotCounts>;
}

// ---------------------------------------------------------------------------------------------
// The event log: what each cycle (or lifecycle run) derived.

/** An event as `adnotify history --json` prints it. */
export type HistoryEvent = { id: number; cycle: number; at: string } & DirectoryEvent;

export interface EventLog {
  /** Records an event of a cycle; returns its id. */
  add(cycleId: number, at: string, event: DirectoryEvent): Promise<number>;
  /** Rewrites a recorded event (a cycle's fix-ups before it commits). */
  replace(id: number, event: DirectoryEvent): Promise<void>;
  delete(id: number): Promise<void>;
  /** The objects one cycle recorded events for, in the order of their first event, with how many. */
  objectsOfCycle(cycleId: number): Promise<{ guid: string; events: number }[]>;
  /** The events one cycle recorded for these objects, oldest first. */
  ofCycle(cycleId: number, objectGuids: readonly string[]): Promise<DirectoryEvent[]>;
  /** The same, with each event's id (to replace it) and time. */
  recordedOfCycle(
    cycleId: number,
    objectGuids: readonly string[],
  ): Promise<{ id: number; at: string; event: DirectoryEvent }[]>;
  /** Up to `limit` events of one cycle after event `afterId`, in event order (id). */
  pageOfCycle(
    cycleId: number,
    afterId: number,
    limit: number,
  ): Promise<{ id: number; at: string; event: DirectoryEvent }[]>;
  /** How many events of each type one cycle recorded. */
  typesOfCycle(cycleId: number): Promise<Map<string, number>>;
  /** Events recorded at or after `since` (ISO time), oldest first. */
  since(since: string): Promise<HistoryEvent[]>;
}

// ---------------------------------------------------------------------------------------------
// Cycle metadata: the DC and cursor, the cycle rows events refer to, the last run, settings.

export interface DirectoryState {
  url: string;
  dsServiceName: string;
  invocationId: string;
  usnCursor: bigint;
  baselineAt: string;
  updatedAt: string;
}

export type CycleKind = 'baseline' | 'incremental' | 'resync' | 'lifecycle';

export interface CycleRecord {
  kind: CycleKind;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: 'ok' | 'failed';
  objects: number;
  groups: number;
  memberships: number;
  events: number;
  error: string | null;
}

/** The last poll, whatever its outcome (an idle cycle writes nothing else). */
export interface LastRun {
  kind: CycleKind;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: 'ok' | 'failed';
  events: number;
  error: string | null;
}

export interface CycleLog {
  directoryState(): Promise<DirectoryState | undefined>;
  setDirectoryState(
    identity: DirectoryIdentity,
    cursor: bigint,
    at: string,
    baselineAt: string,
  ): Promise<void>;
  setCursor(cursor: bigint, at: string): Promise<void>;
  /** Opens a cycle's row so its events can refer to it; {@link finish} completes it. */
  begin(kind: CycleKind, startedAt: string): Promise<number>;
  finish(id: number, cycle: Omit<CycleRecord, 'kind' | 'startedAt'>): Promise<void>;
  setLastRun(run: LastRun): Promise<void>;
  lastRun(): Promise<LastRun | undefined>;
  /** A setting kept with the state (the scope, the binary-attribute cache, alert state...). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** The HMAC key redacted values are hashed with: random, made with the state, kept in it. */
  redactionKey(): Promise<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------
// The outbox: rendered messages waiting to be sent, with their delivery state.

/**
 * pending: to be sent; held: by the flood guard; digest: waiting for the next digest run
 * (delivery.digest), which folds it into one mail per recipient and marks it sent; sent;
 * failed: for good, until `outbox retry`.
 */
export type OutboxStatus = 'pending' | 'held' | 'digest' | 'sent' | 'failed';
export type OutboxCounts = Record<OutboxStatus, number>;

export interface Envelope {
  from: string;
  to: string[];
  cc: string[];
}

export interface NewMessage {
  cycleId: number | null;
  createdAt: string;
  status: 'pending' | 'held' | 'digest';
  /**
   * Where it goes: "mail" (the default), a channel's name (channels:), or a SIEM sink
   * ("siem.syslog", "siem.file"). Each channel is delivered on its own, in id order. For any
   * channel but mail, `text` is the payload and `subject` a one-line summary for humans.
   */
  channel?: string;
  kind: string;
  objectGuid: string | null;
  messageId: string;
  envelope: Envelope;
  subject: string;
  text: string;
  html: string;
  /**
   * An administrators' copy about a protected group (notify.protectedGroups): the flood guard
   * never holds it, so a privileged change is told even in a cycle whose other mail is held.
   */
  protectedGroup?: boolean;
}

export interface OutboxMessage extends Omit<NewMessage, 'status' | 'protectedGroup' | 'channel'> {
  id: number;
  channel: string;
  status: OutboxStatus;
  protectedGroup: boolean;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  sentAt: string | null;
  /** While a sender has the message ({@link OutboxStore.claim}): until when; else null. */
  claimedUntil: string | null;
  /** Who claimed it ("host:pid"), while claimed. */
  claimedBy: string | null;
}

export interface OutboxStore {
  add(message: NewMessage): Promise<number>;
  /**
   * Pending messages whose next attempt is due and that no sender holds, oldest first: of one
   * channel, or of every channel.
   */
  due(now: string, limit?: number, channel?: string): Promise<OutboxMessage[]>;
  /**
   * Takes a message for sending, until `until`: only while it is pending and no other sender
   * holds it (a claim past its time was left by a sender that died). False when it was
   * discarded, held, sent, or another sender has it: then it is not sent. Every mark* call
   * ends the claim. Two senders (the daemon and a CLI delivery, or two instances) never send
   * the same message, and a message discarded before its claim never goes.
   */
  claim(id: number, now: string, until: string, owner: string): Promise<boolean>;
  /**
   * Ends the claims of senders known to be gone (`gone(owner)`: a process on this host that no
   * longer runs), so that a message a killed process had claimed goes at once rather than when
   * its claim runs out. Returns how many.
   */
  releaseClaims(gone: (owner: string) => boolean): Promise<number>;
  get(id: number): Promise<OutboxMessage | undefined>;
  /** Every message, or those with one status, oldest first. */
  list(status?: OutboxStatus): Promise<OutboxMessage[]>;
  counts(): Promise<OutboxCounts>;
  /** How many items wait (pending or held) for each channel, mail included. */
  waitingByChannel(): Promise<Map<string, number>>;
  markSent(id: number, at: string, attempts: number): Promise<void>;
  markRetry(id: number, attempts: number, nextAttemptAt: string, error: string): Promise<void>;
  /**
   * The server could not be reached: the message keeps its attempts and its place, so that an
   * outage neither uses up `maxAttempts` nor lets later mail to the same people overtake it.
   */
  markWaiting(id: number, error: string): Promise<void>;
  markFailed(id: number, attempts: number, error: string): Promise<void>;
  /** Failed messages (one, or all) go back to pending with a fresh count of attempts. */
  retry(id: number | 'all', now: string): Promise<number>;
  /**
   * The flood guard: a cycle's pending messages are held until released or discarded, except
   * the copies about protected groups ({@link NewMessage.protectedGroup}), which always go out,
   * and the SIEM records (channels `siem.*`, {@link isSiemChannel}): a mass change is exactly
   * what the SIEM must see as it happens.
   */
  holdCycle(cycleId: number): Promise<number>;
  /**
   * Digest items (status digest) become sent at `at`, as folded into a digest mail: only those
   * still waiting, so that two digest runs never send one item twice. Returns how many.
   */
  markDigested(ids: readonly number[], at: string): Promise<number>;
  /** Messages held by the flood guard (all, or one cycle's) become pending. */
  release(now: string, cycleId?: number): Promise<number>;
  /**
   * Drops messages never to be sent: one not yet sent and not being sent now (claimed at
   * `now`), or every held or failed one.
   */
  discard(which: number | 'held' | 'failed', now: string): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle schedules: temporary memberships, removals, additional owners and managers.

export interface NewSchedule {
  kind: ScheduleKind;
  /** The group (member, removal, owner) or the user (manager). */
  targetGuid: string;
  targetDn: string;
  /** The member, owner or manager. */
  subjectGuid: string;
  subjectDn: string;
  startAt: string;
  endAt: string;
  createdAt: string;
  /** Who ran `adnotify temp add`: the OS user, or SUDO_USER under sudo. */
  createdBy: string | null;
}

export interface Schedule extends NewSchedule {
  id: number;
  state: ScheduleState;
  /** With state `failed`: the state the next run goes on from, or null when it does not retry. */
  resumeFrom: 'scheduled' | 'active' | null;
  /** Consecutive failed attempts of the current step. */
  failures: number;
  warnedAt: string | null;
  lastError: string | null;
  updatedAt: string;
  /**
   * Whether the start step changed the directory: false when its change was already in place
   * (a member to remove was already out of the group), null before the start is applied. The
   * end of a removal puts back only a member its start removed.
   */
  startChanged: boolean | null;
}

export type ScheduleCounts = Record<ScheduleState | 'failed-final', number>;

export interface ScheduleStore {
  add(schedule: NewSchedule): Promise<number>;
  get(id: number): Promise<Schedule | undefined>;
  /** Schedules the job has to look at: scheduled, active, or failed with a retry. */
  pending(): Promise<Schedule[]>;
  /** Schedules still running or failed, or every one with `all`. */
  list(all?: boolean): Promise<Schedule[]>;
  /** Schedules by state; failed ones split by whether they are retried. */
  counts(): Promise<ScheduleCounts>;
  /**
   * Every state change is a compare-and-set: it takes effect only while the schedule is still
   * in `from`, the state the caller read (with the transaction it read it in), and says whether
   * it did. A schedule cancelled by `temp cancel` meanwhile stays cancelled.
   */
  /** The step applied: the schedule moves to `state`, and any failure is cleared. */
  setState(
    id: number,
    from: ScheduleState,
    state: ScheduleState,
    at: string,
    note?: string | null,
  ): Promise<boolean>;
  /** The warning was sent; a failed warning goes back to where it was. */
  setWarned(id: number, from: ScheduleState, at: string): Promise<boolean>;
  /** Records whether the start step changed the directory ({@link Schedule.startChanged}). */
  recordStart(id: number, changed: boolean): Promise<void>;
  /**
   * A step could not be applied: state `failed` with the reason. `resumeFrom` is where the
   * next run goes on from, or null when nothing is left to apply.
   */
  setFailed(
    id: number,
    from: ScheduleState,
    error: string,
    resumeFrom: 'scheduled' | 'active' | null,
    at: string,
  ): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Password reminders: which thresholds were handled for a user and expiry date.

/** A threshold handled for a user and expiry date: the reminder sent, or passed unsent. */
export interface ReminderRecord {
  userGuid: string;
  expiresAt: string;
  threshold: number;
  outcome: 'sent' | 'passed';
  at: string;
}

export interface ReminderStore {
  /** Thresholds already handled (sent or passed) for this user and expiry date. */
  recorded(userGuid: string, expiresAt: string): Promise<Set<number>>;
  /** Records a threshold once; a second record of it changes nothing. */
  record(reminder: ReminderRecord): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Audit records (who made a change) and how far each audit file was read.

/** A followed file: its identity (device:inode, which a rotation keeps), where it was, how far read. */
export interface AuditPosition {
  file: string;
  path: string;
  offset: number;
  /**
   * A fingerprint of the file's first bytes up to `offset` (at most 256): a file truncated and
   * rewritten past `offset` keeps its inode but not its start. '' when unknown.
   */
  head: string;
}

export interface AuditStore {
  /** Where reading stopped, per file; empty before the first read. */
  positions(): Promise<AuditPosition[]>;
  /** Replaces the positions (files no longer found are dropped). */
  setPositions(positions: readonly AuditPosition[]): Promise<void>;
  add(records: readonly AuditRecord[]): Promise<void>;
  /** Records not yet matched to an event, recorded at or after `since`, oldest first. */
  unused(since: string): Promise<StoredAuditRecord[]>;
  /** These records made an event: they are not matched again. */
  markUsed(ids: readonly number[]): Promise<void>;
  /** Forgets records recorded before `before`. */
  prune(before: string): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Records every implementation starts from.

/** A cycle's row as {@link CycleLog.begin} opens it: ok, nothing counted yet. */
export function openedCycle(kind: CycleKind, startedAt: string): CycleRecord {
  return {
    kind,
    startedAt,
    finishedAt: startedAt,
    durationMs: 0,
    outcome: 'ok',
    objects: 0,
    groups: 0,
    memberships: 0,
    events: 0,
    error: null,
  };
}

export function noSchedules(): ScheduleCounts {
  return { scheduled: 0, active: 0, done: 0, cancelled: 0, failed: 0, 'failed-final': 0 };
}

/**
 * A port written synchronously: how the SQLite and memory stores implement the (asynchronous)
 * ports, since a local file answers at once. {@link promisedPort} lifts one to the port.
 */
export type Synchronous<P> = {
  [K in keyof P]: P[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : P[K];
};

/**
 * The asynchronous port over a synchronous implementation: each call runs at once (so calls
 * keep their order even unawaited) and its result or error comes back as a promise.
 */
export function promisedPort<P extends object>(sync: Synchronous<P>): P {
  return new Proxy(sync, {
    get(target, key, receiver): unknown {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): Promise<unknown> =>
        settled(() => (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  }) as unknown as P;
}

/** Runs `work` now; its result or its error as a promise. */
export function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err: unknown) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
