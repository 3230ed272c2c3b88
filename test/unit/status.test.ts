/**
 * Commands on the state file, offline: `status` never prints a secret of the config; a state
 * another process is writing to is "try again" (75), not a crash (70).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';

import { SqliteStore } from '../../src/store/sqlite/store.js';
import { runCli, tempDir } from '../support/cli.js';
import { A_SCHEDULE } from '../support/schedules.js';

/** A config whose state is a file in a temp dir (no directory is ever reached), and that state. */
function offlineState(bindPassword: string) {
  const dir = tempDir();
  const config = join(dir, 'adnotify.yaml');
  writeFileSync(
    config,
    `version: 1
directory: { urls: ["ldaps://127.0.0.1"], bindDN: "svc@x.test", bindPassword: "${bindPassword}", baseDN: "DC=x,DC=test" }
smtp: { host: 127.0.0.1, from: "adnotify@x.test" }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
`,
  );
  return { dir, config, store: SqliteStore.open(join(dir, 'state.db')) };
}

describe('adnotify status', () => {
  it('never prints a secret that a recorded error quotes, in words or as JSON', async () => {
    const password = 'Tr0ub4dor&3-status';
    const { config, store } = offlineState('${env:PW}');
    await store.cycles.setLastRun({
      kind: 'incremental',
      startedAt: '2026-12-01T08:00:00.000Z',
      finishedAt: '2026-12-01T08:00:01.000Z',
      durationMs: 1000,
      outcome: 'failed',
      events: 0,
      error: `bind refused for svc@x.test with password ${password}`,
    });
    await store.close();

    const plain = await runCli(['--config', config, 'status'], { PW: password });
    const json = await runCli(['--config', config, 'status', '--json'], { PW: password });

    expect([plain.code, json.code]).toEqual([0, 0]);
    expect(plain.stdout).toContain('bind refused for svc@x.test with password ***');
    for (const output of [plain.stdout, plain.stderr, json.stdout, json.stderr]) {
      expect(output).not.toContain(password);
    }
  });

  it('a state database another process keeps locked is exit 75 with a line that says so', async () => {
    const { dir, config, store } = offlineState('pw');
    const id = await store.schedules.add(A_SCHEDULE);
    const writer = new Database(join(dir, 'state.db'));
    writer.exec('BEGIN IMMEDIATE'); // another process in the middle of a write
    try {
      const cancel = await runCli(['--config', config, 'temp', 'cancel', String(id)]);
      expect(cancel.code).toBe(75);
      expect(cancel.stderr).toContain('error: the state database is busy: another adnotify process');
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
      await store.close();
    }
  }, 15_000);
});
