import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { StateError } from '../../src/errors.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite.js';
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

  it('keeps a 64-bit USN cursor exactly', () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    store.setDirectoryState(identity, identity.highestCommittedUSN, 'now', 'then');
    expect(store.directoryState()?.usnCursor).toBe(9_007_199_254_740_993n);
    store.close();
  });

  it('commits nothing when the work inside a transaction fails', async () => {
    const store = SqliteStore.open(join(tempDir(), 'state.db'));
    await expect(
      store.transaction(async () => {
        store.putContainer('guid-1', 'OU=A,DC=x');
        store.setDirectoryState(identity, 1n, 'now', 'then');
        await Promise.resolve();
        throw new Error('LDAP went away');
      }),
    ).rejects.toThrow('LDAP went away');
    expect(store.counts().containers).toBe(0);
    expect(store.directoryState()).toBeUndefined();
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
});
