/** Following audit files on disk: whole lines only, rotation, truncation, first read at the end. */
import { appendFileSync, chmodSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { readNewLines } from '../../src/actor/tail.js';
import { tempDir } from '../support/cli.js';

/** An audit file followed from its start, "one" and "two" read from it. */
function oneAndTwoRead() {
  const log = join(tempDir(), 'audit.log');
  writeFileSync(log, '');
  const start = readNewLines([log], [], false);
  appendFileSync(log, 'one\ntwo\n');
  return { log, read: readNewLines([log], start.positions, true) };
}

describe('readNewLines (files on disk)', () => {
  it('starts at the end on the very first read, then reads each whole line once', () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    writeFileSync(log, 'old 1\nold 2\n');
    const first = readNewLines([log], [], false);
    expect(first.lines).toEqual([]);

    appendFileSync(log, 'new 1\nnew 2\npartial');
    const second = readNewLines([log], first.positions, true);
    expect(second.lines).toEqual(['new 1', 'new 2']);

    appendFileSync(log, ' line\n');
    expect(readNewLines([log], second.positions, true).lines).toEqual(['partial line']);
  });

  it('a rotated file is finished through the glob, and the new one read from its start', () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    writeFileSync(log, '');
    const start = readNewLines([`${log}*`], [], false);
    appendFileSync(log, 'a\n');
    const before = readNewLines([`${log}*`], start.positions, true);
    expect(before.lines).toEqual(['a']);

    appendFileSync(log, 'b\n');
    renameSync(log, `${log}.1`);
    writeFileSync(log, 'c\n');
    const after = readNewLines([`${log}*`], before.positions, true);
    expect(after.lines).toEqual(['b', 'c']);
    expect(readNewLines([`${log}*`], after.positions, true).lines).toEqual([]);
  });

  it('a truncated file (copytruncate) is read again from its start', () => {
    const { log, read } = oneAndTwoRead();
    writeFileSync(log, 'three\n');
    expect(readNewLines([log], read.positions, true).lines).toEqual(['three']);
  });

  it('a file truncated and written past its old length between two reads is read from its start, not mid-line', () => {
    const { log, read } = oneAndTwoRead();
    writeFileSync(log, 'a first line longer than before\nsecond\n'); // same inode, new content

    expect(readNewLines([log], read.positions, true).lines).toEqual([
      'a first line longer than before',
      'second',
    ]);
  });

  it('refuses a symbolic link and a file anyone may write, unless allowed, and says why', () => {
    const dir = tempDir();
    const real = join(dir, 'real.log');
    const link = join(dir, 'audit.log');
    const open = join(dir, 'open.log');
    writeFileSync(real, 'x\n');
    symlinkSync(real, link);
    writeFileSync(open, 'y\n');
    chmodSync(open, 0o666);

    const refused = readNewLines([link, open], [], true);
    expect(refused.lines).toEqual([]);
    expect(refused.refused).toHaveLength(2);
    expect(refused.refused).toEqual(
      expect.arrayContaining([
        { path: link, reason: 'a symbolic link' },
        { path: open, reason: 'writable by any local user' },
      ]),
    );

    const allowed = readNewLines([link, open], [], true, undefined, { allowInsecure: true });
    expect(allowed.lines.sort()).toEqual(['x', 'y']);
    expect(allowed.refused).toEqual([]);
  });

  it('takes at most maxBytes a read and says more is waiting', () => {
    const dir = tempDir();
    const log = join(dir, 'audit.log');
    writeFileSync(log, '');
    const start = readNewLines([log], [], false);
    appendFileSync(log, 'aaaa\nbbbb\ncccc\n');
    const first = readNewLines([log], start.positions, true, 11);
    expect(first).toMatchObject({ lines: ['aaaa', 'bbbb'], more: true });
    expect(readNewLines([log], first.positions, true, 11)).toMatchObject({ lines: ['cccc'], more: false });
  });
});
