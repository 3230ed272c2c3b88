import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { tempDir } from '../support/cli.js';

const BIN = 'dist/bin.js';
const adnotify = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'], ...env },
  });

describe.skipIf(!existsSync(BIN))('the built adnotify executable (npm run build)', () => {
  it('prints its version', () => {
    const result = adnotify(['--version']);
    expect(result.status).toBe(0);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('exits 64 on an unknown command or flag', () => {
    expect(adnotify(['frobnicate']).status).toBe(64);
    expect(adnotify(['status', '--frob']).status).toBe(64);
  });

  it('exits 78 with the key path for an invalid config, found through $ADNOTIFY_CONFIG', () => {
    const file = join(tempDir(), 'bad.yaml');
    writeFileSync(file, 'version: 1\ndirectory:\n  urls: []\n');
    const result = adnotify(['check-config'], { ADNOTIFY_CONFIG: file });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain(`configuration error in ${file}:`);
    expect(result.stderr).toMatch(
      /^ {2}directory\.urls: list at least one domain controller URL \(line 3, column 9\)$/m,
    );
    expect(result.stderr).toMatch(/^ {2}smtp: required: expected object/m);
  });
});
