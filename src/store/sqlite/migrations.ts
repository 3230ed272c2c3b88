import type Database from 'better-sqlite3';

import { scrubMoreSecrets, scrubSecrets } from './scrub.js';

/**
 * Versioned schema migrations, applied in order inside one transaction each; the
 * version lives in PRAGMA user_version. Never edit a released migration: add one.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** Work SQL alone cannot do, run after `sql` in the same transaction. */
  run?: (db: Database.Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'cursor and DC identity, snapshot, cycles, events, outbox',
    sql: `
      -- The domain controller the cursor belongs to (uSNChanged is per DC) and the cursor itself.
      CREATE TABLE directory_state (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        url             TEXT NOT NULL,
        ds_service_name TEXT NOT NULL,
        invocation_id   TEXT NOT NULL,
        usn_cursor      INTEGER NOT NULL,
        baseline_at     TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );

      -- The snapshot: every watched object, keyed by objectGUID (a rename is the same object).
      CREATE TABLE objects (
        guid        TEXT PRIMARY KEY,
        dn          TEXT NOT NULL,
        class       TEXT NOT NULL,
        usn_changed INTEGER NOT NULL,
        attributes  TEXT NOT NULL            -- JSON: name -> values (binary and redacted as hashes)
      ) WITHOUT ROWID;
      CREATE INDEX objects_dn ON objects (dn);

      -- OUs and containers, so descendants' DNs can follow a rename of their parent.
      CREATE TABLE containers (
        guid TEXT PRIMARY KEY,
        dn   TEXT NOT NULL
      ) WITHOUT ROWID;

      -- Group membership by member GUID; member_dn for members outside the watched scope.
      CREATE TABLE memberships (
        group_guid  TEXT NOT NULL,
        member_guid TEXT NOT NULL,
        member_dn   TEXT NOT NULL,
        PRIMARY KEY (group_guid, member_guid)
      ) WITHOUT ROWID;
      CREATE INDEX memberships_member ON memberships (member_guid);

      CREATE TABLE cycles (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,           -- baseline | incremental | resync
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        outcome     TEXT NOT NULL,           -- ok | failed
        objects     INTEGER NOT NULL DEFAULT 0,
        groups      INTEGER NOT NULL DEFAULT 0,
        memberships INTEGER NOT NULL DEFAULT 0,
        events      INTEGER NOT NULL DEFAULT 0,
        error       TEXT
      );

      CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        cycle_id    INTEGER NOT NULL REFERENCES cycles (id),
        at          TEXT NOT NULL,
        type        TEXT NOT NULL,
        object_guid TEXT,
        payload     TEXT NOT NULL            -- JSON, the event as history --json prints it
      );
      CREATE INDEX events_at ON events (at);

      CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        cycle_id        INTEGER REFERENCES cycles (id),
        created_at      TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'held', 'sent', 'failed')),
        envelope        TEXT NOT NULL,       -- JSON: from, to, cc
        subject         TEXT NOT NULL,
        text_body       TEXT NOT NULL,
        html_body       TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error      TEXT,
        sent_at         TEXT
      );
      CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    `,
  },
  {
    version: 2,
    description: 'last run, cached facts about the directory, events by cycle',
    sql: `
      -- The last poll, whatever its outcome: an idle cycle writes only this row.
      CREATE TABLE last_run (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        kind        TEXT NOT NULL,           -- baseline | incremental | resync
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        outcome     TEXT NOT NULL,           -- ok | failed
        events      INTEGER NOT NULL DEFAULT 0,
        error       TEXT
      );

      -- Small facts worth keeping between runs: the scope the snapshot was taken with, the
      -- schema's binary attributes (so an idle cycle need not read the schema).
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE INDEX events_cycle ON events (cycle_id);
    `,
  },
  {
    version: 3,
    description: 'outbox: what each message is about, its Message-ID',
    sql: `
      ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'change';
      ALTER TABLE outbox ADD COLUMN object_guid TEXT;
      ALTER TABLE outbox ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
    `,
  },
  {
    version: 4,
    description: 'password reminders sent, lifecycle schedules',
    sql: `
      -- One row per user, expiry date and threshold: a reminder sent, or a threshold passed
      -- while a nearer one was sent. A new expiry date (password changed) starts afresh.
      CREATE TABLE password_reminders (
        user_guid  TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        threshold  INTEGER NOT NULL,
        outcome    TEXT NOT NULL,          -- sent | passed
        at         TEXT NOT NULL,
        PRIMARY KEY (user_guid, expires_at, threshold)
      ) WITHOUT ROWID;

      -- Temporary memberships, removals, additional owners and managers.
      CREATE TABLE schedules (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,          -- member | removal | owner | manager
        target_guid  TEXT NOT NULL,          -- the group (member, removal, owner) or user (manager)
        target_dn    TEXT NOT NULL,
        subject_guid TEXT NOT NULL,          -- the member, owner or manager
        subject_dn   TEXT NOT NULL,
        start_at     TEXT NOT NULL,
        end_at       TEXT NOT NULL,
        state        TEXT NOT NULL,          -- scheduled | active | done | cancelled
        warned_at    TEXT,
        last_error   TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      );
      CREATE INDEX schedules_state ON schedules (state);
    `,
  },
  {
    version: 5,
    description: 'schedules: who created each, failures that resume where they stopped',
    sql: `
      -- The OS user who ran "adnotify temp add" (SUDO_USER under sudo).
      ALTER TABLE schedules ADD COLUMN created_by TEXT;
      -- With state 'failed': the state to go on from at the next run (scheduled or active),
      -- or NULL when nothing is left to apply (the group or member is gone).
      ALTER TABLE schedules ADD COLUMN resume_from TEXT;
      -- Consecutive failed attempts of the current step.
      ALTER TABLE schedules ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 6,
    description: 'a key for redacted values; secrets stored in clear before are hashed',
    sql: '',
    run: scrubSecrets,
  },
  {
    version: 7,
    description: "events by cycle and object: a cycle's notifications read them back a chunk at a time",
    sql: `
      CREATE INDEX events_cycle_object ON events (cycle_id, object_guid, id);
    `,
  },
  {
    version: 8,
    description: 'audit records (who made a change) and where reading the audit files stopped',
    sql: `
      -- Records read from the DCs' audit files, values already dropped, until matched to an
      -- event (used = 1) or too old to match one.
      CREATE TABLE audit_records (
        id     INTEGER PRIMARY KEY,
        at     TEXT NOT NULL,
        record TEXT NOT NULL,
        used   INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX audit_records_at ON audit_records (used, at);
      -- Each followed file by device and inode (a rotated file keeps them): how far it was read.
      CREATE TABLE audit_positions (
        file    TEXT PRIMARY KEY,
        path    TEXT NOT NULL,
        offset  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 9,
    description: 'outbox: copies about protected groups, which the flood guard never holds',
    sql: `
      ALTER TABLE outbox ADD COLUMN protected_group INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 10,
    description:
      'schedules: whether the start changed the directory (a removal puts back only what it removed)',
    sql: `
      ALTER TABLE schedules ADD COLUMN start_changed INTEGER;
    `,
  },
  {
    version: 11,
    description:
      'secrets scrubbed from outbox bodies written before redaction; TPM, BitLocker, trust and LSA secrets hashed',
    sql: '',
    run: scrubMoreSecrets,
  },
  {
    version: 12,
    description: 'audit files: a fingerprint of the start read, so a file rewritten in place is read again',
    sql: `
      ALTER TABLE audit_positions ADD COLUMN head TEXT NOT NULL DEFAULT '';
    `,
  },
  {
    version: 13,
    description: 'outbox: a claim on each message while a sender has it, and by whom',
    sql: `
      ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
      ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
      -- Each delivery round looks for claims of senders that are gone: only claimed rows.
      CREATE INDEX outbox_claimed ON outbox (claimed_by) WHERE claimed_until IS NOT NULL;
    `,
  },
  {
    version: 14,
    description:
      'outbox: the channel each item goes to (mail, a chat or webhook channel, a SIEM sink), and digest items',
    // SQLite cannot change a CHECK constraint: the table is rebuilt with the status "digest".
    sql: `
      CREATE TABLE outbox_v14 (
        id              INTEGER PRIMARY KEY,
        cycle_id        INTEGER REFERENCES cycles (id),
        created_at      TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'held', 'digest', 'sent', 'failed')),
        envelope        TEXT NOT NULL,       -- JSON: from, to, cc
        subject         TEXT NOT NULL,
        text_body       TEXT NOT NULL,       -- for a channel but mail: the payload
        html_body       TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error      TEXT,
        sent_at         TEXT,
        kind            TEXT NOT NULL DEFAULT 'change',
        object_guid     TEXT,
        message_id      TEXT NOT NULL DEFAULT '',
        protected_group INTEGER NOT NULL DEFAULT 0,
        claimed_until   TEXT,
        claimed_by      TEXT,
        channel         TEXT NOT NULL DEFAULT 'mail'
      );
      INSERT INTO outbox_v14 (id, cycle_id, created_at, status, envelope, subject, text_body, html_body,
                              attempts, next_attempt_at, last_error, sent_at, kind, object_guid,
                              message_id, protected_group, claimed_until, claimed_by)
        SELECT id, cycle_id, created_at, status, envelope, subject, text_body, html_body,
               attempts, next_attempt_at, last_error, sent_at, kind, object_guid,
               message_id, protected_group, claimed_until, claimed_by
          FROM outbox;
      DROP TABLE outbox;
      ALTER TABLE outbox_v14 RENAME TO outbox;
      CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
      CREATE INDEX outbox_claimed ON outbox (claimed_by) WHERE claimed_until IS NOT NULL;
      -- Each channel's delivery round reads its own due items, oldest first.
      CREATE INDEX outbox_channel_due ON outbox (channel, status, id);
    `,
  },
];
