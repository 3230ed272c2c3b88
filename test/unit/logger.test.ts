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
