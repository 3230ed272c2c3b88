/**
 * The state's own secrets migrations: what earlier versions kept in clear of secret
 * attributes (in the snapshot, recorded events and outbox bodies) replaced by keyed hashes or
 * "not shown", with secure_delete on so no page of the file keeps the old value.
 */
import { createHash, randomBytes } from 'node:crypto';

import type Database from 'better-sqlite3';

import { AttributeSet, BUILTIN_SECRET_ATTRIBUTES } from '../../core/attributes.js';
import type { SnapshotValue } from '../../core/snapshot.js';
import { redactedValue } from '../snapshotValues.js';

/** The meta key holding the HMAC key for redacted values (hex). */
export const REDACTION_KEY = 'redactionKey';

/**
 * Makes the HMAC key, then replaces what earlier versions kept in clear of the built-in
 * secret attributes (a LAPS password, userPassword, ...): in the snapshot by the keyed hash
 * the next read will compare with (so no change is reported for it), in recorded events by
 * "changed (redacted)".
 */
export function scrubSecrets(db: Database.Database): void {
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
export function scrubMoreSecrets(db: Database.Database): void {
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
