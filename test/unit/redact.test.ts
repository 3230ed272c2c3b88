import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/log/logger.js';
import { Redactor } from '../../src/log/redact.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, stream };
}

describe('Redactor', () => {
  it('replaces every occurrence of every secret, longest first', () => {
    const r = new Redactor(['abc', 'abcdef']);
    expect(r.text('x abcdef y abc z')).toBe('x *** y *** z');
  });

  it('redacts nested objects and errors, including their causes', () => {
    const r = new Redactor(['s3cret']);
    const err = new Error('bind as x with s3cret failed', { cause: new Error('cause has s3cret') });
    expect(JSON.stringify(r.deep({ a: ['s3cret'], err }))).not.toContain('s3cret');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with the component and never a secret', async () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'debug', format: 'json', secrets: ['Hunter2!'], stream });
    log
      .child({ component: 'ldap' })
      .warn('bind failed', { err: new Error('password Hunter2! rejected'), url: 'ldaps://x' });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(record).toMatchObject({
      level: 'warn',
      message: 'bind failed',
      component: 'ldap',
      url: 'ldaps://x',
    });
    expect(lines[0]).not.toContain('Hunter2!');
    expect(lines[0]).toContain('***');
  });

  it('writes text lines when asked, and respects the level', async () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'info', format: 'text', stream });
    log.debug('hidden');
    log.info('cycle done', { objects: 3 });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/INFO cycle done objects=3/);
  });

  it('chooses text on a terminal and JSON otherwise with format auto', async () => {
    const tty = capture();
    Object.assign(tty.stream, { isTTY: true });
    createLogger({ level: 'info', format: 'auto', stream: tty.stream }).info('hello');
    const pipe = capture();
    createLogger({ level: 'info', format: 'auto', stream: pipe.stream }).info('hello');
    await new Promise((r) => setImmediate(r));
    expect(tty.lines[0]).toMatch(/INFO hello/);
    expect(JSON.parse(pipe.lines[0] ?? '')).toMatchObject({ message: 'hello' });
  });
});
