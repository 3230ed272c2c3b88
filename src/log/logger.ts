/**
 * The one logger factory. Logs go to stderr: text on a terminal, JSON lines otherwise
 * (journald, files), with fixed messages and the data in fields. Components take a
 * child logger: `logger.child({ component: 'ldap' })`.
 */
import { chmodSync, existsSync, statSync } from 'node:fs';

import winston from 'winston';

import { Redactor } from './redact.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = winston.Logger;

export interface LoggerOptions {
  level: LogLevel;
  format: 'auto' | 'json' | 'text';
  /** Also write JSON lines here, rotated by size. */
  file?: string | null;
  secrets?: Iterable<string>;
  /** Where console lines go; defaults to process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

const ROTATE_BYTES = 10 * 1024 * 1024;
const ROTATE_FILES = 5;

export function createLogger(options: LoggerOptions): Logger {
  const redactor = new Redactor(options.secrets ?? []);
  const stream = options.stream ?? process.stderr;
  const text = options.format === 'text' || (options.format === 'auto' && stream.isTTY === true);

  const redact = winston.format((info) => {
    // deep() returns the same string keys with redacted values; symbol keys are left as they are.
    Object.assign(info, redactor.deep({ ...info }));
    return info;
  });
  const base = [winston.format.timestamp(), redact()];

  const transports: winston.transport[] = [
    new winston.transports.Stream({
      stream,
      format: winston.format.combine(...base, text ? textLine() : winston.format.json()),
    }),
  ];
  if (options.file) {
    // The log names people and changes: the owner's alone (0600), like the state file. A file
    // created by an earlier version (with the umask) is narrowed too; rotations are created
    // with the same mode.
    if (existsSync(options.file) && (statSync(options.file).mode & 0o077) !== 0)
      chmodSync(options.file, 0o600);
    transports.push(
      new winston.transports.File({
        filename: options.file,
        options: { flags: 'a', mode: 0o600 },
        maxsize: ROTATE_BYTES,
        maxFiles: ROTATE_FILES,
        tailable: true,
        format: winston.format.combine(...base, winston.format.json()),
      }),
    );
  }
  return skipBelowLevel(winston.createLogger({ level: options.level, transports }));
}

/**
 * winston builds every entry and pipes it through its streams before each transport drops it
 * by level: about 15 µs for a debug line nobody reads. The applier logs one per event, which
 * was ~33 ms of a 900 ms incremental cycle of 2,000 changes in the benchmark's CPU profile.
 * Here a call below the level returns at once. The level is read at each call (a changed
 * `logger.level` holds), and child loggers inherit the methods with their own `this`.
 */
function skipBelowLevel(logger: Logger): Logger {
  for (const level of ['warn', 'info', 'debug'] as const) {
    const write = logger[level];
    logger[level] = function (this: Logger, ...args: Parameters<winston.LeveledLogMethod>) {
      return this.isLevelEnabled(level) ? write.apply(this, args) : this;
    } as winston.LeveledLogMethod;
  }
  return logger;
}

function textLine(): winston.Logform.Format {
  return winston.format.printf((info) => {
    const { timestamp, level, message, component, ...fields } = info as Record<string, unknown>;
    const parts = Object.entries(fields)
      .filter(([key]) => typeof key === 'string')
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
    const who = typeof component === 'string' ? ` [${component}]` : '';
    return `${String(timestamp)} ${String(level).toUpperCase()}${who} ${String(message)}${parts.length ? ` ${parts.join(' ')}` : ''}`;
  });
}
