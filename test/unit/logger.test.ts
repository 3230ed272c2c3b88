/** logging.file holds what adnotify did to whom: readable by its owner only, whatever the umask. */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/log/logger.js';
import { tempDir } from '../support/cli.js';

async function logOnce(file: string): Promise<void> {
  const log = createLogger({ level: 'info', format: 'json', file, stream: new PassThrough() });
  const finished = new Promise((resolve) => log.on('finish', resolve));
  log.info('a line');
  log.end();
  await finished;
}

describe('createLogger with logging.file', () => {
  it('creates the file with mode 0600 under a permissive umask', async () => {
    const file = join(tempDir(), 'adnotify.log');
    const umask = process.umask(0o002);
    try {
      await logOnce(file);
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('takes group and other access away from a file that had it', async () => {
    const file = join(tempDir(), 'adnotify.log');
    writeFileSync(file, '', { mode: 0o644 });
    await logOnce(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('createLogger levels', () => {
  /** A logger writing JSON lines into `lines`, at `level`. */
  function capture(level: 'info' | 'warn') {
    const lines: Record<string, unknown>[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    return { log: createLogger({ level, format: 'json', stream }), lines };
  }
  const flush = () => new Promise((resolve) => setImmediate(resolve));

  it('writes what is at or above the level, from the logger and its children', async () => {
    const { log, lines } = capture('info');
    const child = log.child({ component: 'poll' });
    log.debug('hidden');
    child.debug('hidden too', { id: 1 });
    log.info('shown');
    child.info('shown by a child', { id: 2 });
    child.warn('warned');
    await flush();
    expect(lines.map((l) => [l['message'], l['component'], l['id']])).toEqual([
      ['shown', undefined, undefined],
      ['shown by a child', 'poll', 2],
      ['warned', 'poll', undefined],
    ]);
  });

  it('follows a level changed after the logger was made', async () => {
    const { log, lines } = capture('warn');
    const child = log.child({ component: 'ldap' });
    child.info('before');
    log.level = 'debug';
    child.debug('after', { page: 3 });
    log.level = 'error';
    child.warn('silenced');
    await flush();
    expect(lines.map((l) => [l['level'], l['message'], l['page']])).toEqual([['debug', 'after', 3]]);
  });
});
