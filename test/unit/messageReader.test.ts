/**
 * The linear message assembly in front of ldapts's MessageParser: messages split across any
 * number of chunks, several messages in one chunk, and a header split between chunks all
 * come out as the same messages, once each.
 */
import { MessageParser } from 'ldapts';
import { describe, expect, it } from 'vitest';

import { installLinearMessageReader } from '../../src/directory/messageReader.js';

/** SearchResultDone (success) for message `id`, with a diagnostic message of `size` bytes. */
function done(id: number, size: number): Buffer {
  const diagnostic = Buffer.alloc(size, 0x61);
  const lengthBytes = (n: number) =>
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  const op = Buffer.concat([
    Buffer.from([0x0a, 0x01, 0x00, 0x04, 0x00, 0x04]),
    lengthBytes(size),
    diagnostic,
  ]);
  const body = Buffer.concat([Buffer.from([0x02, 0x01, id, 0x65]), lengthBytes(op.length), op]);
  return Buffer.concat([Buffer.from([0x30]), lengthBytes(body.length), body]);
}

function parse(chunks: Buffer[]): { ids: number[]; errors: unknown[] } {
  installLinearMessageReader();
  const parser = new MessageParser();
  const ids: number[] = [];
  const errors: unknown[] = [];
  parser.on('message', (message: { messageId: number }) => ids.push(message.messageId));
  parser.on('error', (err: unknown) => errors.push(err));
  for (const chunk of chunks) parser.read(chunk, new Map());
  return { ids, errors };
}

const split = (buffer: Buffer, size: number) =>
  Array.from({ length: Math.ceil(buffer.length / size) }, (_, i) =>
    buffer.subarray(i * size, (i + 1) * size),
  );

describe('linear LDAP message assembly', () => {
  it('reads a message delivered one byte at a time', () => {
    expect(parse(split(done(7, 300), 1))).toEqual({ ids: [7], errors: [] });
  });

  it('reads several messages from one chunk, and a large one from many', () => {
    const stream = Buffer.concat([done(1, 10), done(2, 20), done(3, 40_000), done(4, 5)]);
    expect(parse([stream])).toEqual({ ids: [1, 2, 3, 4], errors: [] });
    expect(parse(split(stream, 1_000))).toEqual({ ids: [1, 2, 3, 4], errors: [] });
    expect(parse(split(stream, 3))).toEqual({ ids: [1, 2, 3, 4], errors: [] });
  });
});
