/**
 * Search entries read lean, after the next page has been asked for.
 *
 * A paged search is a relay: the DC prepares a page, sends it, and waits for the request that
 * carries the page's cookie, which comes in the last message of the page. ldapts parses each
 * entry as it arrives (every value into a Buffer and a string, an Attribute object per
 * attribute, then an object per entry once the page is done), so the DC waited idle while this
 * process did all of that: measured with `npm run bench` at 20,000 users, 30 ms of parsing and
 * 14 ms of copying per page of 500 against 130 ms for the DC to prepare one, and about 70 KB
 * of garbage per entry.
 *
 * For the searches the LDAP adapter marks (their `explicitBufferAttributes` array is
 * registered here), an entry is only framed on arrival: its DN is read and its attribute list
 * kept as the bytes it came in. {@link readAttributes} decodes them later, once the next
 * page's request is on its way, straight into lists of strings and bytes. Installed once, by
 * the LDAP adapter; other searches (rootDSE, schema, notifications) are parsed by ldapts as
 * before.
 */
import { isUtf8 } from 'node:buffer';

import { MessageParser, SearchEntry, SearchRequest, type BerReader, type Entry } from 'ldapts';

const SEARCH_RESULT_ENTRY = 0x64;
const SEQUENCE = 0x30;
const SET = 0x31;
const OCTET_STRING = 0x04;

/** The bytes of an entry's attribute list (PartialAttributeList, RFC 4511 4.5.2), undecoded. */
const RAW = Symbol('adnotify.rawAttributes');

/** The `explicitBufferAttributes` arrays of the searches whose entries are read lean. */
const lean = new WeakSet<readonly string[]>();
let installed = false;

class LeanSearchEntry extends SearchEntry {
  raw: Buffer = Buffer.alloc(0);

  override parseMessage(reader: BerReader): void {
    this.name = reader.readString() ?? '';
    if (reader.readSequence() === null) return;
    const start = reader.offset;
    this.raw = reader.buffer.subarray(start, start + reader.length);
    reader.offset = start + reader.length;
  }

  override toObject(): Entry {
    return { dn: this.name, [RAW]: this.raw };
  }
}

type MessageFactory = (
  this: MessageParser,
  messageId: number,
  protocolOperation: number,
  reader: BerReader,
  request: unknown,
) => unknown;

export function installLeanEntryReader(): void {
  if (installed) return;
  installed = true;
  const prototype = MessageParser.prototype as unknown as {
    _getMessageFromProtocolOperation: MessageFactory;
  };
  const original = prototype._getMessageFromProtocolOperation;
  prototype._getMessageFromProtocolOperation = function (messageId, protocolOperation, reader, request) {
    if (
      protocolOperation === SEARCH_RESULT_ENTRY &&
      request instanceof SearchRequest &&
      lean.has(request.explicitBufferAttributes)
    ) {
      const message = new LeanSearchEntry({ messageId });
      message.parse(reader, request.controls ?? []);
      return message;
    }
    return original.call(this, messageId, protocolOperation, reader, request);
  };
}

/**
 * `binary` as an `explicitBufferAttributes` array whose search's entries are read lean: pass
 * it to ldapts, then read each entry with {@link readAttributes}.
 */
export function leanSearch(binary: readonly string[]): string[] {
  const list = [...binary];
  lean.add(list);
  return list;
}

export type WireValue = string | Buffer;

/**
 * The attributes of an entry of a lean search, in the order the DC sent them: values of the
 * attributes in `binary` (lower case) or named `;binary` as bytes; others as text, or as bytes
 * when any value of the attribute is not valid UTF-8 (as ldapts does). Bytes are views of the
 * received message. Throws on an entry that did not come from a lean search or is malformed.
 */
export function readAttributes(entry: Entry, binary: ReadonlySet<string>): [string, WireValue[]][] {
  const raw = (entry as unknown as { [RAW]?: Buffer })[RAW];
  if (raw === undefined) throw new Error(`entry ${entry.dn} was not read by a lean search`);
  const out: [string, WireValue[]][] = [];
  let at = 0;
  const malformed = (what: string) =>
    new Error(`the directory sent a malformed entry for ${entry.dn}: ${what} at byte ${at}`);
  /** Reads a tag and length at `at`; returns the content's end and moves `at` to its start. */
  const open = (tag: number, end: number): number => {
    if (at + 2 > end || raw[at] !== tag) throw malformed(`expected tag 0x${tag.toString(16)}`);
    let length = raw[at + 1] ?? 0;
    at += 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4 || at + count > end) throw malformed('bad length');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + (raw[at + i] ?? 0);
      at += count;
    }
    if (at + length > end) throw malformed('length beyond the entry');
    return at + length;
  };
  while (at < raw.length) {
    const attributeEnd = open(SEQUENCE, raw.length);
    const typeEnd = open(OCTET_STRING, attributeEnd);
    const type = raw.toString('latin1', at, typeEnd); // attribute descriptions are ASCII (RFC 4512)
    at = typeEnd;
    // The values' offsets first: text is decoded straight from the message, without a Buffer
    // view per value (most of what a cycle allocated per entry).
    bounds.length = 0;
    if (at < attributeEnd) {
      const setEnd = open(SET, attributeEnd);
      while (at < setEnd) {
        const valueEnd = open(OCTET_STRING, setEnd);
        bounds.push(at, valueEnd);
        at = valueEnd;
      }
    }
    at = attributeEnd;
    const lower = type.toLowerCase();
    let values: WireValue[] | undefined;
    if (!binary.has(lower) && !lower.endsWith(';binary')) values = texts(raw, bounds);
    out.push([type, values ?? bytes(raw, bounds)]);
  }
  return out;
}

/** Offsets (start, end) of one attribute's values; reused, as an attribute is read at once. */
const bounds: number[] = [];

/**
 * The values as text, or undefined when any is not valid UTF-8 (then all are bytes, as ldapts
 * does). A decoder meeting bad UTF-8 puts U+FFFD in; only values showing one are checked.
 */
function texts(raw: Buffer, at: readonly number[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < at.length; i += 2) {
    const text = raw.toString('utf8', at[i], at[i + 1]);
    if (text.includes('\uFFFD') && !isUtf8(raw.subarray(at[i], at[i + 1]))) return undefined;
    out.push(text);
  }
  return out;
}

function bytes(raw: Buffer, at: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < at.length; i += 2) out.push(raw.subarray(at[i], at[i + 1]));
  return out;
}
