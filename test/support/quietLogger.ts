/** A logger for tests whose log nobody reads: errors only, written nowhere. */
import { PassThrough } from 'node:stream';

import { createLogger, type Logger } from '../../src/log/logger.js';

export function quietLogger(): Logger {
  return createLogger({ level: 'error', format: 'json', file: null, secrets: [], stream: new PassThrough() });
}
