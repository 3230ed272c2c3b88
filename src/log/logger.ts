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
  return winston.createLogger({ level: options.level, transports });
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
