/**
 * Following the audit files like `tail -F`: each file is known by device and inode (which a
 * rotation by rename keeps), read from where it was left, a whole line at a time. A file that
 * shrank was truncated (copytruncate): it is read again from its start. A file not seen before
 * is read from its start, except on the very first read, which starts at the end: adnotify
 * reports changes from when it is set up, and never re-scans an old audit log.
 *
 * Paths may end in a glob of the file name (`/var/log/samba/audit.log*`): name the rotated
 * files too, and the end of a file rotated between two reads is not lost.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { AuditPosition } from '../store/ports.js';

export interface TailResult {
  lines: string[];
  positions: AuditPosition[];
  /** More was waiting than one read takes (maxBytes): read again. */
  more: boolean;
  /** Files not read, and why (a symbolic link, writable by anyone). */
  refused: { path: string; reason: string }[];
}

export interface TailOptions {
  /**
   * Read symbolic links and files any local user may write (directory.actor.allowInsecureFiles).
   * Off by default: whoever can write the audit file decides who adnotify names as the actor.
   */
  allowInsecure?: boolean;
}

/**
 * How much of a file's start is fingerprinted: a file truncated and written past its old
 * length between two reads (same inode, larger) is told from one that only grew.
 */
const HEAD_BYTES = 256;

function headOf(fd: number, offset: number): string {
  const length = Math.min(HEAD_BYTES, offset);
  if (length === 0) return '';
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, 0);
  return createHash('sha256').update(buffer.subarray(0, read)).digest('hex');
}

/** What one read takes at most, over all files: memory stays bounded however large they grow. */
const MAX_BYTES = 16 * 1024 * 1024;

/** The files a path or glob names, oldest first (rotated files before the live one). */
export function auditFiles(patterns: readonly string[]): string[] {
  const files = new Set<string>();
  for (const pattern of patterns) {
    const name = basename(pattern);
    if (!/[*?]/.test(name)) {
      if (existsSync(pattern)) files.add(pattern);
      continue;
    }
    const dir = dirname(pattern);
    const regex = new RegExp(
      `^${name
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) if (regex.test(entry)) files.add(join(dir, entry));
  }
  return [...files]
    .map((path) => ({ path, stat: statSync(path) }))
    .filter((f) => f.stat.isFile())
    .sort((a, b) => a.stat.mtimeMs - b.stat.mtimeMs || b.path.localeCompare(a.path))
    .map((f) => f.path);
}

/**
 * The complete lines written since `previous`, and the positions after them. `started` is
 * false on the very first read (every file is then taken from its end).
 */
export function readNewLines(
  patterns: readonly string[],
  previous: readonly AuditPosition[],
  started: boolean,
  maxBytes = MAX_BYTES,
  options: TailOptions = {},
): TailResult {
  const known = new Map(previous.map((p) => [p.file, p]));
  const lines: string[] = [];
  const positions: AuditPosition[] = [];
  const refused: TailResult['refused'] = [];
  let budget = maxBytes;
  let more = false;
  const secure = options.allowInsecure !== true;
  for (const path of auditFiles(patterns)) {
    if (secure && lstatSync(path).isSymbolicLink()) {
      refused.push({ path, reason: 'a symbolic link' });
      continue;
    }
    // O_NOFOLLOW: a link put in its place after the check above is refused by the kernel.
    const fd = openSync(path, constants.O_RDONLY | (secure ? constants.O_NOFOLLOW : 0));
    try {
      const stat = fstatSync(fd);
      if (secure && (stat.mode & 0o002) !== 0) {
        refused.push({ path, reason: 'writable by any local user' });
        continue;
      }
      const file = `${stat.dev}:${stat.ino}`;
      const before = known.get(file);
      let offset = before?.offset ?? (started ? 0 : stat.size);
      // Truncated (copytruncate), or truncated and written past the old length since: the
      // start of the file is not what was read there. Read it again from its start.
      if (stat.size < offset || (before && before.head !== '' && headOf(fd, offset) !== before.head))
        offset = 0;
      if (stat.size > offset && budget <= 0) more = true;
      else if (stat.size > offset) {
        const from = offset;
        const length = Math.min(stat.size - from, budget);
        const buffer = Buffer.alloc(length);
        const read = readSync(fd, buffer, 0, length, offset);
        // Only whole lines: a line still being written is read next time.
        const end = read > 0 ? buffer.lastIndexOf(0x0a, read - 1) : -1;
        if (end >= 0) {
          for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) {
            if (line.trim() !== '') lines.push(line);
          }
          offset += end + 1;
          budget -= end + 1;
        } else if (read === maxBytes) {
          // One line longer than a whole read is no audit record: skip it rather than stall.
          offset += read;
          budget -= read;
        }
        // Stopped short by the budget, not by a line still being written: read again.
        if (length < stat.size - from) more = true;
      }
      positions.push({ file, path, offset, head: headOf(fd, offset) });
    } finally {
      closeSync(fd);
    }
  }
  return { lines, positions, more, refused };
}
