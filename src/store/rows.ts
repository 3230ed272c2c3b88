/**
 * The outbox and schedule rows as both databases return them, and the one mapping of each to
 * its port type: ids are numbers on SQLite and text on PostgreSQL (BIGINT), flags 0/1 on
 * SQLite and booleans on PostgreSQL.
 */
import type {
  Envelope,
  OutboxMessage,
  OutboxStatus,
  Schedule,
  ScheduleKind,
  ScheduleState,
} from './ports.js';

type Id = number | string;
type Flag = number | boolean;

const flag = (v: Flag): boolean => v === true || v === 1;

export interface OutboxRow {
  id: Id;
  cycle_id: Id | null;
  created_at: string;
  status: OutboxStatus;
  kind: string;
  object_guid: string | null;
  message_id: string;
  envelope: string;
  subject: string;
  text_body: string;
  html_body: string;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  sent_at: string | null;
  protected_group: Flag;
  claimed_until: string | null;
  claimed_by: string | null;
  channel: string;
}

export function outboxMessage(r: OutboxRow): OutboxMessage {
  return {
    id: Number(r.id),
    cycleId: r.cycle_id === null ? null : Number(r.cycle_id),
    createdAt: r.created_at,
    status: r.status,
    kind: r.kind,
    objectGuid: r.object_guid,
    messageId: r.message_id,
    envelope: JSON.parse(r.envelope) as Envelope,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    sentAt: r.sent_at,
    protectedGroup: flag(r.protected_group),
    claimedUntil: r.claimed_until,
    claimedBy: r.claimed_by,
    channel: r.channel,
  };
}

export interface ScheduleRow {
  id: Id;
  kind: ScheduleKind;
  target_guid: string;
  target_dn: string;
  subject_guid: string;
  subject_dn: string;
  start_at: string;
  end_at: string;
  state: ScheduleState;
  resume_from: 'scheduled' | 'active' | null;
  failures: number;
  warned_at: string | null;
  last_error: string | null;
  created_at: string;
  created_by: string | null;
  updated_at: string;
  start_changed: Flag | null;
}

export const scheduleOf = (r: ScheduleRow): Schedule => ({
  id: Number(r.id),
  kind: r.kind,
  targetGuid: r.target_guid,
  targetDn: r.target_dn,
  subjectGuid: r.subject_guid,
  subjectDn: r.subject_dn,
  startAt: r.start_at,
  endAt: r.end_at,
  state: r.state,
  resumeFrom: r.resume_from,
  failures: r.failures,
  warnedAt: r.warned_at,
  lastError: r.last_error,
  createdAt: r.created_at,
  createdBy: r.created_by,
  updatedAt: r.updated_at,
  startChanged: r.start_changed === null ? null : flag(r.start_changed),
});
