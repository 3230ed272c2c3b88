/**
 * stopEverySamba finds a DC by the files it holds open under its directory, not by its
 * command line: samba retitles itself "samba: root process", which once let the fault suite's
 * DC outlive the tests. A process retitled the same way stands in for it here.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { tempDir } from '../support/cli.js';
import { stopEverySamba } from '../support/samba.js';

describe.skipIf(process.platform !== 'linux')('stopEverySamba', () => {
  it('stops a retitled process holding a file in the DC directory, and waits until it is gone', async () => {
    const dir = tempDir('adnotify-dc-');
    mkdirSync(join(dir, 'etc'));
    const child = spawn('bash', ['-c', `exec 3>"${dir}/samba.out"; exec -a "samba: root process" sleep 60`], {
      stdio: 'ignore',
    });
    const exited = once(child, 'exit');
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(child.exitCode).toBeNull();
      await stopEverySamba(dir);
      const [code, signal] = (await exited) as [number | null, string | null];
      expect(code === null ? signal : code).toBe('SIGTERM');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
