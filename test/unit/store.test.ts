import { createHmac } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { StateError } from '../../src/errors.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';

const identity = {
  url: 'ldaps://dc1',
  dsServiceName: 'CN=NTDS Settings,CN=DC1',
  invocationId: '76670900-84f5-4ed0-8992-f07ecb7c431f',
  highestCommittedUSN: 9_007_199_254_740_993n, // above 2^53: must survive as a BigInt
  defaultNamingContext: null,
  namingContexts: [],
};

describe('SqliteStore (SQLite on disk)', () => {
  it('creates the file with mode 0600 in WAL mode at the latest schema version, and reopens idempotently', () => {
    const path = join(tempDir(), 'nested', 'state.db');
    SqliteStore.open(path).close();
    SqliteStore.open(path).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    db.close();
  });

  it('upgrading to schema 6 makes the redaction key and hashes secrets kept in clear before', () => {
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
    const key = store.cycles.redactionKey();
    expect(key.length).toBe(32);
    const object = store.snapshot.getObject('g1');
    expect(object?.attributes['ms-mcs-admpwd']).toEqual([
      { hmac: createHmac('sha256', key).update('Hunter2-legacy-LAPS').digest('hex'), redacted: true },
    ]);
    expect(object?.attributes['info']).toEqual(attributes.info);
    expect(object?.attributes['displayName']).toEqual(['Sue']);
    store.close();
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

  it('keeps a 64-bit USN cursor exactly', () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    store.cycles.setDirectoryState(identity, identity.highestCommittedUSN, 'now', 'then');
    expect(store.cycles.directoryState()?.usnCursor).toBe(9_007_199_254_740_993n);
    store.close();
  });

  it('commits nothing when the work inside a transaction fails', async () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    await expect(
      store.transaction(async () => {
        store.snapshot.putContainer('guid-1', 'OU=A,DC=x');
        store.cycles.setDirectoryState(identity, 1n, 'now', 'then');
        await Promise.resolve();
        throw new Error('LDAP went away');
      }),
    ).rejects.toThrow('LDAP went away');
    expect(store.snapshot.counts().containers).toBe(0);
    expect(store.cycles.directoryState()).toBeUndefined();
    store.close();
  });

  it('refuses a database written by a newer adnotify', () => {
    const path = join(tempDir(), 'state.db');
    SqliteStore.open(path).close();
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

  it('moves the stored DNs beneath a renamed container, and only those', () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    const put = (guid: string, dn: string) => {
      store.snapshot.putObject({ guid, dn, class: 'user', usnChanged: 1n, attributes: {} });
    };
    put('a', 'CN=A,OU=Staff,DC=x');
    put('b', 'CN=B,OU=Team,OU=Staff,DC=x');
    put('c', 'CN=C,OU=XStaff,DC=x');
    put('d', 'CN=D,ou=staff,DC=x');
    store.snapshot.putContainer('staff', 'OU=Staff,DC=x');
    store.snapshot.putContainer('team', 'OU=Team,OU=Staff,DC=x');
    store.snapshot.replaceMemberships('g', [{ guid: 'b', sid: null, dn: 'CN=B,OU=Team,OU=Staff,DC=x' }]);

    expect(store.snapshot.renameSubtree('OU=Staff,DC=x', 'OU=People,DC=x')).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((g) => store.snapshot.getObject(g)?.dn)).toEqual([
      'CN=A,OU=People,DC=x',
      'CN=B,OU=Team,OU=People,DC=x',
      'CN=C,OU=XStaff,DC=x',
      'CN=D,OU=People,DC=x',
    ]);
    expect(store.snapshot.containerDn('team')).toBe('OU=Team,OU=People,DC=x');
    expect(store.snapshot.containerDn('staff')).toBe('OU=Staff,DC=x'); // the container itself is the caller's
    expect(store.snapshot.members('g')).toEqual([{ guid: 'b', dn: 'CN=B,OU=Team,OU=People,DC=x' }]);
    store.close();
  });

  it('keeps events with their cycle, in order, as history prints them', () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    const cycle = store.cycles.begin('incremental', '2026-11-25T08:00:00.000Z');
    const object = { guid: 'a', dn: 'CN=A,DC=x', class: 'user' };
    store.events.add(cycle, '2026-11-25T08:00:01.000Z', { type: 'object.created', object });
    store.events.add(cycle, '2026-11-25T09:00:01.000Z', { type: 'object.deleted', object });
    expect(store.events.since('2026-11-25T08:30:00.000Z')).toEqual([
      { id: 2, cycle, at: '2026-11-25T09:00:01.000Z', type: 'object.deleted', object },
    ]);
    expect(store.events.since('2026-11-25T00:00:00.000Z').map((e) => e.type)).toEqual([
      'object.created',
      'object.deleted',
    ]);
    store.close();
  });
});
