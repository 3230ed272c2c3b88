/** `adnotify status` reads the state offline: nothing it prints may carry a secret of the config. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { SqliteStore } from '../../src/store/sqlite/store.js';
import { runCli, tempDir } from '../support/cli.js';

describe('adnotify status', () => {
  it('never prints a secret that a recorded error quotes, in words or as JSON', async () => {
    const dir = tempDir();
    const password = 'Tr0ub4dor&3-status';
    const config = join(dir, 'adnotify.yaml');
    writeFileSync(
      config,
      `version: 1
directory: { urls: ["ldaps://127.0.0.1"], bindDN: "svc@x.test", bindPassword: "\${env:PW}", baseDN: "DC=x,DC=test" }
smtp: { host: 127.0.0.1, from: "adnotify@x.test" }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
`,
    );
    const store = SqliteStore.open(join(dir, 'state.db'));
    store.cycles.setLastRun({
      kind: 'incremental',
      startedAt: '2026-12-01T08:00:00.000Z',
      finishedAt: '2026-12-01T08:00:01.000Z',
      durationMs: 1000,
      outcome: 'failed',
      events: 0,
      error: `bind refused for svc@x.test with password ${password}`,
    });
    store.close();

    const plain = await runCli(['--config', config, 'status'], { PW: password });
    const json = await runCli(['--config', config, 'status', '--json'], { PW: password });

    expect([plain.code, json.code]).toEqual([0, 0]);
    expect(plain.stdout).toContain('bind refused for svc@x.test with password ***');
    for (const output of [plain.stdout, plain.stderr, json.stdout, json.stderr]) {
      expect(output).not.toContain(password);
    }
  });
});
