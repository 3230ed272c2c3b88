/**
 * ldapts 9's MessageParser appends every incoming TCP/TLS chunk to the bytes received so far
 * with Buffer.concat, so a large LDAP message (a group of 10,000 members arrives as one search
 * entry of about 1.5 MB, in a hundred TLS records) is copied about a hundred times: quadratic
 * time and a burst of garbage. Measured with `npm run bench` (20,000 users): 41% of a cycle
 * that adds one member to that group went to Buffer.concat.
 *
 * This wraps MessageParser.read: chunks are kept in a list until the message that starts the
 * pending bytes is complete (its length is in its BER header), then joined once and handed to
 * the original read, which behaves exactly as before. Installed once, by the LDAP adapter.
 */
import { MessageParser } from 'ldapts';

interface Pending {
  chunks: Buffer[];
  length: number;
  /** The length of the message the chunks start with, once its header has arrived. */
  needed?: number | undefined;
}

type Read = (this: MessageParser, data: Buffer, details: unknown) => void;

const pending = new WeakMap<MessageParser, Pending>();
let installed = false;

/** Total length of the BER SEQUENCE at the start of `chunks`, or undefined if not yet known. */
function messageLength(chunks: readonly Buffer[]): number | undefined {
  const first = chunks[0];
  // The header is at most 6 bytes (tag, length of length, 4 length bytes).
  const head = first && first.length >= 6 ? first : Buffer.concat(chunks.slice(0, 6));
  if (head.length < 2) return undefined;
  const size0 = head[1] ?? 0;
  if (size0 < 0x80) return 2 + size0;
  const count = size0 & 0x7f;
  if (count === 0 || count > 4 || head.length < 2 + count) return undefined;
  let size = 0;
  for (let i = 0; i < count; i++) size = size * 256 + (head[2 + i] ?? 0);
  return 2 + count + size;
}

export function installLinearMessageReader(): void {
  if (installed) return;
  installed = true;
  const prototype = MessageParser.prototype as unknown as { read: Read };
  const original = prototype.read;
  prototype.read = function read(this: MessageParser, data: Buffer, details: unknown): void {
    const self = this as unknown as { buffer?: Buffer };
    const state = pending.get(this) ?? { chunks: [], length: 0 };
    // Bytes the original parser kept back (the start of an incomplete message) come first.
    if (self.buffer) {
      state.chunks.unshift(self.buffer);
      state.length += self.buffer.length;
      state.needed = undefined;
      delete self.buffer;
    }
    state.chunks.push(data);
    state.length += data.length;
    state.needed ??= messageLength(state.chunks);
    if (state.needed !== undefined && state.length < state.needed) {
      pending.set(this, state);
      return;
    }
    pending.delete(this);
    const joined =
      state.chunks.length === 1 ? (state.chunks[0] ?? data) : Buffer.concat(state.chunks, state.length);
    original.call(this, joined, details);
  };
}
