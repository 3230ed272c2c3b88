/**
 * `npm pack` makes a tarball that `npm install -g` installs as a working `adnotify` command
 * (its native SQLite module included).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';

describe.skipIf(!existsSync('dist/bin.js'))('the npm package (npm run build first)', () => {
  it('packs, installs globally and runs', async () => {
    const dir = tempDir('adnotify-pack-');
    const npm = (args: string[]) =>
      spawnSync('npm', args, { encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
    // dist/ is built by npm test before the tests run; rebuilding it here (prepack) would
    // rewrite files other tests are running.
    const pack = npm(['pack', '--ignore-scripts', '--pack-destination', dir, '--json']);
    expect(pack.status, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/bin.js',
        'systemd/adnotify.service',
        'config/adnotify.example.yaml',
        'README.md',
      ]),
    );
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);

    const prefix = join(dir, 'prefix');
    const install = npm([
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      join(dir, info!.filename),
    ]);
    expect(install.status, install.stderr).toBe(0);
    const bin = join(prefix, 'bin', 'adnotify');
    const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    expect(version.stdout.trim()).toBe(
      (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version,
    );

    // The installed copy opens a state database with its own native module.
    const state = join(dir, 'state.db');
    await SqliteStore.open(state).close();
    const config = join(dir, 'adnotify.yaml');
    writeFileSync(
      config,
      `version: 1
directory: { urls: ["ldaps://127.0.0.1:636"], bindDN: "x@example.test", bindPassword: "\${env:PW}", baseDN: "DC=example,DC=test" }
state: { path: ${JSON.stringify(state)} }
smtp: { host: 127.0.0.1, from: "a@example.test" }
`,
    );
    const status = spawnSync(bin, ['--config', config, 'status', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, PW: 'unused' },
    });
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ snapshot: { objects: 0 } });
  }, 120_000);
});
