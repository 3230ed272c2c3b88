import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { MINIMUM_NODE, nodeTooOld } from '../../src/nodeVersion.js';
import { tempDir } from '../support/cli.js';

const BIN = 'dist/bin.js';

/** A node older than 22 on this machine (Debian 12's is 20), or null. */
function oldNode(): string | null {
  const which = spawnSync('sh', ['-c', 'which -a node nodejs 2>/dev/null'], { encoding: 'utf8' });
  for (const path of which.stdout.split('\n').filter(Boolean)) {
    const version = spawnSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
    if (version !== '' && nodeTooOld(version) !== null) return path;
  }
  return null;
}

describe('the Node.js version gate', () => {
  it('names the version needed and the one found, and how to get it', () => {
    expect(nodeTooOld('20.20.2')).toBe(
      `adnotify needs Node.js ${MINIMUM_NODE} or later, but runs on 20.20.2: install Node 22 or 24 LTS (https://nodejs.org/en/download, or NodeSource packages for Debian/Ubuntu) and run adnotify with it.`,
    );
    expect(nodeTooOld('v22.11.0')).not.toBeNull();
    expect(nodeTooOld('22.12.0')).toBeNull();
    expect(nodeTooOld('24.1.0')).toBeNull();
  });

  it('agrees with package.json "engines"', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${MINIMUM_NODE.replace(/\.0$/, '')}`);
  });

  const old = oldNode();
  it.skipIf(!old || !existsSync(BIN))(
    `the built executable under an old node exits 78 with one clear line, before anything native loads (${old ?? 'no node older than 22 here'})`,
    () => {
      const result = spawnSync(old!, [BIN, 'status'], { encoding: 'utf8' });
      expect(result.signal).toBeNull(); // not SIGSEGV
      expect(result.status).toBe(78);
      expect(result.stderr.trim()).toMatch(
        /^adnotify needs Node\.js 22\.12\.0 or later, but runs on 20\.\d+\.\d+: /,
      );
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    },
  );
});

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
