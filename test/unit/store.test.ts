import { createHmac } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { StateError } from '../../src/errors.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';

describe('SqliteStore (SQLite on disk): the file', () => {
  it('creates the file with mode 0600 in WAL mode at the latest schema version, and reopens idempotently', async () => {
    const path = join(tempDir(), 'nested', 'state.db');
    await SqliteStore.open(path).close();
    await SqliteStore.open(path).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    db.close();
  });

  it('upgrading to schema 6 makes the redaction key and hashes secrets kept in clear before', async () => {
    const path = join(tempDir(), 'state.db');
    const old = new Database(path);
    for (const m of MIGRATIONS.filter((x) => x.version <= 5)) old.exec(m.sql);
    old.pragma('user_version = 5');
    const attributes = {
      displayName: ['Sue'],
      'ms-mcs-admpwd': ['Hunter2-legacy-LAPS'],
      info: [{ sha256: 'a'.repeat(64), redacted: true }], // redacted by the config before: kept
    };
    old
      .prepare("INSERT INTO objects VALUES ('g1', 'CN=Sue,DC=x', 'user', 5, ?)")
      .run(JSON.stringify(attributes));
    old
      .prepare(
        "INSERT INTO cycles (id, kind, started_at, finished_at, duration_ms, outcome) VALUES (1, 'incremental', 't', 't', 0, 'ok')",
      )
      .run();
    const payload = {
      type: 'object.modified',
      object: { guid: 'g1', dn: 'CN=Sue,DC=x', class: 'user' },
      changes: [
        { attribute: 'description', before: [], after: ['x'] },
        { attribute: 'ms-Mcs-AdmPwd', before: [], after: ['Hunter2-legacy-LAPS'] },
      ],
    };
    old
      .prepare(
        "INSERT INTO events (cycle_id, at, type, object_guid, payload) VALUES (1, 't', 'object.modified', 'g1', ?)",
      )
      .run(JSON.stringify(payload));
    old.close();

    const store = SqliteStore.open(path);
    const key = await store.cycles.redactionKey();
    expect(key.length).toBe(32);
    const object = await store.snapshot.getObject('g1');
    expect(object?.attributes['ms-mcs-admpwd']).toEqual([
      { hmac: createHmac('sha256', key).update('Hunter2-legacy-LAPS').digest('hex'), redacted: true },
    ]);
    expect(object?.attributes['info']).toEqual(attributes.info);
    expect(object?.attributes['displayName']).toEqual(['Sue']);
    await store.close();
    const raw = readFileSync(path);
    expect(raw.includes(Buffer.from('Hunter2'))).toBe(false);
    const db = new Database(path, { readonly: true });
    const event = db.prepare('SELECT payload FROM events').get() as { payload: string };
    db.close();
    expect(JSON.parse(event.payload)).toMatchObject({
      changes: [
        { attribute: 'description', after: ['x'] },
        { attribute: 'ms-Mcs-AdmPwd', redacted: true },
      ],
    });
    expect(event.payload).not.toContain('Hunter2');
  });

  it('upgrading to schema 11 scrubs secrets from outbox bodies and hashes the newly listed secret attributes', async () => {
    const path = join(tempDir(), 'state.db');
    const old = new Database(path);
    for (const m of MIGRATIONS.filter((x) => x.version <= 10)) {
      old.exec(m.sql);
      m.run?.(old);
    }
    old.pragma('user_version = 10');
    old
      .prepare("INSERT INTO objects VALUES ('g1', 'CN=Pc,DC=x', 'computer', 5, ?)")
      .run(JSON.stringify({ 'msFVE-RecoveryPassword': ['111111-222222-BitLocker'], cn: ['Pc'] }));
    old
      .prepare(
        "INSERT INTO cycles (id, kind, started_at, finished_at, duration_ms, outcome) VALUES (1, 'incremental', 't', 't', 0, 'ok')",
      )
      .run();
    old
      .prepare(
        "INSERT INTO events (cycle_id, at, type, object_guid, payload) VALUES (1, 't', 'object.modified', 'g1', ?)",
      )
      .run(
        JSON.stringify({
          type: 'object.modified',
          object: { guid: 'g1', dn: 'CN=Pc,DC=x', class: 'computer' },
          changes: [{ attribute: 'msFVE-RecoveryPassword', before: [], after: ['111111-222222-BitLocker'] }],
        }),
      );
    const cell = 'padding:4px';
    const text = `Changes:\n  description: (none) -> kept\n  ms-Mcs-AdmPwd: (none) -> Hunter2-legacy-LAPS\n`;
    const html = `<tr><td style="${cell}">description</td><td style="${cell}">(none)</td><td style="${cell}">kept</td></tr><tr><td style="${cell}">ms-Mcs-AdmPwd</td><td style="${cell}">(none)</td><td style="${cell}">Hunter2-legacy-LAPS</td></tr>`;
    const insert = old.prepare(
      `INSERT INTO outbox (cycle_id, created_at, status, kind, object_guid, message_id, envelope, subject, text_body, html_body, attempts)
       VALUES (1, 't', ?, 'change', 'g1', ?, '{"from":"a@x","to":["b@x"],"cc":[]}', 'Changes to user Sue', ?, ?, 0)`,
    );
    insert.run('pending', '<1@x>', text, html);
    insert.run('sent', '<2@x>', text, html);
    old.close();

    const store = SqliteStore.open(path);
    const object = await store.snapshot.getObject('g1');
    expect(object?.attributes['msFVE-RecoveryPassword']).toEqual([
      {
        hmac: createHmac('sha256', await store.cycles.redactionKey())
          .update('111111-222222-BitLocker')
          .digest('hex'),
        redacted: true,
      },
    ]);
    const messages = await store.outbox.list();
    await store.close();
    expect(messages.map((m) => m.status)).toEqual(['pending', 'sent']);
    for (const m of messages) {
      expect(m.text).toContain('  ms-Mcs-AdmPwd: (not shown) -> changed (not shown)');
      expect(m.text).toContain('  description: (none) -> kept');
      expect(m.html).toContain('>(not shown)</td>');
      expect(m.html).toContain('>kept</td>');
    }
    const raw = readFileSync(path);
    expect(raw.includes(Buffer.from('Hunter2'))).toBe(false);
    expect(raw.includes(Buffer.from('BitLocker'))).toBe(false);
  });

  it('refuses a database written by a newer adnotify', async () => {
    const path = join(tempDir(), 'state.db');
    await SqliteStore.open(path).close();
    const db = new Database(path);
    db.pragma('user_version = 999');
    db.close();
    expect(() => SqliteStore.open(path)).toThrow(/written by a newer adnotify \(schema 999/);
  });

  it('says how to re-baseline when the file is not a database', () => {
    const path = join(tempDir(), 'state.db');
    writeFileSync(path, 'this is not sqlite, just text that is long enough to have a header'.repeat(10));
    expect(() => SqliteStore.open(path)).toThrow(StateError);
    expect(() => SqliteStore.open(path)).toThrow(/not a usable adnotify state database .*Move it aside/);
  });
});
