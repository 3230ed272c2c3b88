/**
 * The systemd unit: `systemd-analyze verify` accepts it and `systemd-analyze security` rates
 * its exposure "OK" or better (below 4.0; "OK" is 2.0 to 4.0). The ExecStart path is pointed
 * at this checkout's build for the check, since /usr/local/bin/adnotify exists only once
 * installed. Needs the built dist/ (npm test builds first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { tempDir } from '../support/cli.js';

const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;
if (!analyze && process.env['CI'] === 'true')
  throw new Error('systemd-analyze is missing (apt-get install systemd)');

describe.skipIf(!analyze || !existsSync('dist/bin.js'))('systemd/adnotify.service', () => {
  const unit = join(tempDir(), 'adnotify.service');
  writeFileSync(
    unit,
    readFileSync('systemd/adnotify.service', 'utf8').replace(
      /^ExecStart=\/usr\/local\/bin\/adnotify /m,
      `ExecStart=${process.execPath} ${resolve('dist/bin.js')} `,
    ),
  );

  it('passes systemd-analyze verify', () => {
    const result = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('is rated OK or better by systemd-analyze security', () => {
    const result = spawnSync('systemd-analyze', ['security', '--offline=true', unit], { encoding: 'utf8' });
    const match = /Overall exposure level for adnotify\.service: ([\d.]+) (\w+)/.exec(result.stdout);
    expect(match, result.stdout + result.stderr).not.toBeNull();
    expect(Number(match?.[1])).toBeLessThan(4);
    expect(['OK', 'SAFE']).toContain(match?.[2]);
  });

  it('runs the documented command with the exit codes that must not restart it', () => {
    const text = readFileSync('systemd/adnotify.service', 'utf8');
    expect(text).toMatch(
      /^ExecStart=\/usr\/local\/bin\/adnotify --config \/etc\/adnotify\/adnotify\.yaml run$/m,
    );
    expect(text).toMatch(/^RestartPreventExitStatus=64 77 78$/m);
  });

  it('caps memory above the V8 heap limit of the executable', () => {
    const text = readFileSync('systemd/adnotify.service', 'utf8');
    const max = /^MemoryMax=(\d+)M$/m.exec(text)?.[1];
    const heap = /--max-old-space-size=(\d+)/.exec(readFileSync('src/bin.ts', 'utf8'))?.[1];
    expect(Number(max)).toBeGreaterThan(Number(heap) + 256);
  });
});
