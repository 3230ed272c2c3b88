import { createHash, randomBytes } from 'node:crypto';

import type Database from 'better-sqlite3';

import { AttributeSet, BUILTIN_SECRET_ATTRIBUTES } from '../../core/attributes.js';
import type { SnapshotValue } from '../../core/snapshot.js';
import { redactedValue } from '../snapshotValues.js';

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

/** The meta key holding the HMAC key for redacted values (hex). */
export const REDACTION_KEY = 'redactionKey';

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
    `,
  },
];

/**
 * Makes the HMAC key, then replaces what earlier versions kept in clear of the built-in
 * secret attributes (a LAPS password, userPassword, ...): in the snapshot by the keyed hash
 * the next read will compare with (so no change is reported for it), in recorded events by
 * "changed (redacted)".
 */
function scrubSecrets(db: Database.Database): void {
  // Overwrite what is replaced, so no page of the file keeps the old value.
  db.pragma('secure_delete = ON');
  const key = randomBytes(32);
  db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
    REDACTION_KEY,
    key.toString('hex'),
  );
  scrubStored(db, key, new AttributeSet(BUILTIN_SECRET_ATTRIBUTES));
  db.pragma('secure_delete = OFF');
}

/**
 * Schema 11: the secret attributes added since (TPM owner, BitLocker recovery, trust and LSA
 * secrets) are scrubbed as schema 6 scrubbed the first ones; and every outbox body, sent or
 * not, loses the values it shows of any secret attribute (messages rendered before schema 6
 * showed them), keeping the rest of the message, so an unsent one still goes out.
 */
function scrubMoreSecrets(db: Database.Database): void {
  db.pragma('secure_delete = ON');
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(REDACTION_KEY) as
    { value: string } | undefined;
  const secret = new AttributeSet(BUILTIN_SECRET_ATTRIBUTES);
  if (row) scrubStored(db, Buffer.from(row.value, 'hex'), secret);
  const messages = db.prepare('SELECT id, text_body, html_body FROM outbox').iterate() as Iterable<{
    id: number;
    text_body: string;
    html_body: string;
  }>;
  const rewrite = db.prepare('UPDATE outbox SET text_body = ?, html_body = ? WHERE id = ?');
  const updates: [string, string, number][] = [];
  for (const m of messages) {
    const text = scrubText(m.text_body, secret);
    const html = scrubHtml(m.html_body, secret);
    if (text !== m.text_body || html !== m.html_body) updates.push([text, html, m.id]);
  }
  for (const update of updates) rewrite.run(...update);
  db.pragma('secure_delete = OFF');
}

const NOT_SHOWN = '(not shown)';

/** The text body's change rows ("  attribute: before -> after") of secret attributes, values gone. */
function scrubText(text: string, secret: AttributeSet): string {
  return text.replace(/^( +)([^:\n]+): .* -> .*$/gm, (line, indent: string, attribute: string) =>
    secret.has(attribute.trim()) ? `${indent}${attribute}: ${NOT_SHOWN} -> changed ${NOT_SHOWN}` : line,
  );
}

/** The HTML body's change rows (attribute, before, after cells) of secret attributes, values gone. */
function scrubHtml(html: string, secret: AttributeSet): string {
  return html.replace(
    /<tr><td([^>]*)>([^<]*)<\/td><td([^>]*)>.*?<\/td><td([^>]*)>.*?<\/td><\/tr>/g,
    (row, a: string, attribute: string, b: string, c: string) =>
      secret.has(attribute.trim())
        ? `<tr><td${a}>${attribute}</td><td${b}>${NOT_SHOWN}</td><td${c}>changed ${NOT_SHOWN}</td></tr>`
        : row,
  );
}

/**
 * Replaces what the snapshot and the recorded events keep in clear of `secret` attributes: in
 * the snapshot by the keyed hash the next read will compare with (so no change is reported
 * for it), in recorded events by "changed (redacted)".
 */
function scrubStored(db: Database.Database, key: Uint8Array, secret: AttributeSet): void {
  const rows = db.prepare('SELECT guid, attributes FROM objects').all() as {
    guid: string;
    attributes: string;
  }[];
  const update = db.prepare('UPDATE objects SET attributes = ? WHERE guid = ?');
  for (const row of rows) {
    const attributes = JSON.parse(row.attributes) as Record<string, SnapshotValue[]>;
    let changed = false;
    for (const [name, values] of Object.entries(attributes)) {
      if (!secret.has(name) || values.every((v) => typeof v !== 'string' && 'redacted' in v)) continue;
      const texts = values.filter((v): v is string => typeof v === 'string');
      // Text values hash as a fresh read would; bytes were kept as a plain hash only, which
      // stays as an old-style redacted hash (compared leniently once, see core/events.ts).
      attributes[name] =
        texts.length === values.length
          ? [redactedValue(texts, key)]
          : [{ sha256: createHash('sha256').update(JSON.stringify(values)).digest('hex'), redacted: true }];
      changed = true;
    }
    if (changed) update.run(JSON.stringify(attributes), row.guid);
  }
  const events = db.prepare("SELECT id, payload FROM events WHERE type = 'object.modified'").all() as {
    id: number;
    payload: string;
  }[];
  const rewrite = db.prepare('UPDATE events SET payload = ? WHERE id = ?');
  for (const event of events) {
    const payload = JSON.parse(event.payload) as { changes?: { attribute: string }[] };
    if (!payload.changes?.some((c) => secret.has(c.attribute) && !('redacted' in c))) continue;
    payload.changes = payload.changes.map((c) =>
      secret.has(c.attribute) ? { attribute: c.attribute, redacted: true } : c,
    );
    rewrite.run(JSON.stringify(payload), event.id);
  }
}
