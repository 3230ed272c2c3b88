/**
 * Turning LDAP wire values into the core's shapes: GUIDs in canonical form, every
 * attribute a list, binary values kept as bytes, Extended DN member values parsed.
 * Pure: no I/O, so it is table-tested on plain values.
 */
import type { AttributeValue, DirectoryEntry, DnValue, MemberRef } from './types.js';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * objectGUID bytes to the canonical string form. The first three fields are stored
 * little-endian (MS-DTYP 2.3.4.2 GUID packet representation), the last two big-endian.
 */
export function formatGuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new Error(`a GUID has 16 bytes, got ${bytes.length}`);
  const b = (i: number) => HEX[bytes[i] ?? 0] ?? '00';
  return (
    `${b(3)}${b(2)}${b(1)}${b(0)}-${b(5)}${b(4)}-${b(7)}${b(6)}-` +
    `${b(8)}${b(9)}-${b(10)}${b(11)}${b(12)}${b(13)}${b(14)}${b(15)}`
  );
}

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(text: string): boolean {
  return GUID_TEXT.test(text);
}

/** objectSid bytes (MS-DTYP 2.4.2.2) to the S-1-5-21-... string form. */
export function formatSid(bytes: Uint8Array): string {
  if (bytes.length < 8) throw new Error(`a SID has at least 8 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const revision = view.getUint8(0);
  const count = view.getUint8(1);
  let authority = 0;
  for (let i = 2; i < 8; i++) authority = authority * 256 + view.getUint8(i);
  const parts = [`S-${revision}-${authority}`];
  for (let i = 0; i < count && 8 + i * 4 + 4 <= bytes.length; i++)
    parts.push(String(view.getUint32(8 + i * 4, true)));
  return parts.join('-');
}

/**
 * DN-valued attributes known without the schema (lower case): what adnotify reads as people
 * (owners, managers, members). The schema's DN syntaxes are added when it can be read.
 */
export const KNOWN_DN_ATTRIBUTES: ReadonlySet<string> = new Set([
  'managedby',
  'manager',
  'secretary',
  'msexchcomanagedbylink',
  'directreports',
  'memberof',
  'lastknownparent',
]);

/**
 * ldapts returns one value as a scalar and several as an array: always a list. With `dn`
 * (the attribute has a DN syntax), text that carries an Extended DN prefix becomes a
 * {@link DnValue}; any other attribute's text stays text, whatever it looks like (a user can
 * write "<GUID=...>;CN=Domain Admins,..." into a description). Bytes stay bytes.
 */
export function toValueList(raw: unknown, dn = false): AttributeValue[] {
  if (raw === undefined || raw === null) return [];
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  // Already a list of text and bytes (a lean search's values): kept, not copied.
  if (!dn && list.every((v) => typeof v === 'string' || v instanceof Uint8Array)) {
    return list;
  }
  const out: AttributeValue[] = [];
  for (const value of list) {
    if (value instanceof Uint8Array) out.push(value);
    else if (typeof value === 'string') out.push(dn && value.startsWith('<GUID=') ? toDnValue(value) : value);
  }
  return out;
}

function toDnValue(text: string): DnValue {
  return { kind: 'dn', ...parseExtendedDn(text) };
}

/** Attributes carried outside `DirectoryEntry.attributes`. */
const STRUCTURAL = new Set([
  'dn',
  'objectguid',
  'objectclass',
  'usnchanged',
  'usncreated',
  'isdeleted',
  'distinguishedname',
  'member',
]);

export interface RawEntryResult {
  entry: DirectoryEntry;
  /** Set when `member` was served in ranges and more remain: the next start index. */
  nextMemberRange?: number;
}

/**
 * One search result entry (attribute name → scalar or array, as ldapts returns it)
 * to a {@link DirectoryEntry}: see {@link entryFromAttributes}.
 */
export function toDirectoryEntry(
  raw: Readonly<Record<string, unknown>>,
  dnAttributes: ReadonlySet<string> = KNOWN_DN_ATTRIBUTES,
): RawEntryResult {
  const attributes = Object.entries(raw)
    .filter(([key]) => key !== 'dn')
    .map(([key, value]): [string, unknown[]] => [
      key,
      Array.isArray(value) ? value : value === undefined || value === null ? [] : [value],
    ]);
  return entryFromAttributes(String(raw['dn']), attributes, dnAttributes);
}

/**
 * One search result entry, its DN and its attributes as lists of text and bytes, to a
 * {@link DirectoryEntry}. `dnAttributes` (lower case) are the attributes of a DN syntax, whose
 * Extended DN values are parsed. Throws when objectGUID is missing or malformed.
 */
export function entryFromAttributes(
  dn: string,
  raw: Iterable<readonly [string, readonly unknown[]]>,
  dnAttributes: ReadonlySet<string> = KNOWN_DN_ATTRIBUTES,
): RawEntryResult {
  let guidRaw: unknown;
  let objectClass: string[] = [];
  let usnChanged = 0n;
  let usnCreated = 0n;
  let deleted = false;
  const attributes = new Map<string, AttributeValue[]>();
  let members: MemberRef[] | undefined;
  let nextMemberRange: number | undefined;
  const usn = (text: unknown): bigint => (typeof text === 'string' && /^\d+$/.test(text) ? BigInt(text) : 0n);

  for (const [key, value] of raw) {
    const lower = key.toLowerCase();
    switch (lower) {
      case 'objectguid':
        guidRaw = value[0];
        continue;
      case 'objectclass':
        objectClass = value.filter((v): v is string => typeof v === 'string');
        continue;
      case 'usnchanged':
        usnChanged = usn(value[0]);
        continue;
      case 'usncreated':
        usnCreated = usn(value[0]);
        continue;
      case 'isdeleted':
        deleted = typeof value[0] === 'string' && value[0].toUpperCase() === 'TRUE';
        continue;
      case 'member':
        members = members ? members.concat(memberRefs(value)) : memberRefs(value);
        continue;
    }
    const range = lower.startsWith('member;') ? parseRangeKey(key, 'member') : undefined;
    if (range) {
      // ldapts lists a requested attribute the server did not return with no values:
      // that is the end of the ranges, not a range to follow.
      const refs = memberRefs(value);
      members = members ? members.concat(refs) : refs;
      if (range.end !== '*' && refs.length > 0) nextMemberRange = range.end + 1;
      continue;
    }
    if (STRUCTURAL.has(lower)) continue;
    const values = toValueList(value, dnAttributes.has(lower));
    if (values.length > 0) attributes.set(key, values);
  }
  if (!(guidRaw instanceof Uint8Array)) {
    throw new Error(`entry ${dn} has no binary objectGUID: request it with explicitBufferAttributes`);
  }

  // Only groups have members; other entries may carry an empty `member;range=` key we asked for.
  const isGroup = objectClass.some((c) => c.toLowerCase() === 'group');
  if (isGroup) members ??= [];
  else {
    members = undefined;
    nextMemberRange = undefined;
  }
  const entry: DirectoryEntry = {
    guid: formatGuid(guidRaw),
    dn: parseExtendedDn(dn).dn,
    objectClass,
    usnChanged,
    usnCreated,
    deleted,
    attributes,
    ...(members === undefined ? {} : { members }),
  };
  return nextMemberRange === undefined ? { entry } : { entry, nextMemberRange };
}

/** Member values of one (possibly ranged) `member` read. */
export function memberRefs(raw: unknown): MemberRef[] {
  const list: unknown[] = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
  return list.map((v) => parseExtendedDn(v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v)));
}

/**
 * A `member` value read with the Extended DN control in string form (flag 1):
 * `<GUID=...>;<SID=...>;CN=...` (the SID part is absent for objects without one).
 * A plain DN (server ignored the control) yields guid null.
 */
export function parseExtendedDn(value: string): MemberRef {
  // Scanned with indexOf rather than a regular expression: a cycle parses every member of
  // every changed group, and match arrays were a tenth of its garbage.
  let at = 0;
  let guid: string | null = null;
  let sid: string | null = null;
  while (value.charCodeAt(at) === 0x3c /* < */) {
    const close = value.indexOf('>', at);
    const equals = value.indexOf('=', at);
    if (close < 0 || equals < 0 || equals > close) break;
    const kind = value.slice(at + 1, equals).toUpperCase();
    if (kind !== 'GUID' && kind !== 'SID') break;
    const id = value.slice(equals + 1, close);
    if (kind === 'GUID') guid = normaliseGuidText(id);
    else sid = id;
    at = value.charCodeAt(close + 1) === 0x3b /* ; */ ? close + 2 : close + 1;
  }
  return { guid, sid, dn: at === 0 ? value : value.slice(at) };
}

/** The GUID part may come as text (flag 1) or as 32 hex digits of the raw bytes (flag 0). */
function normaliseGuidText(text: string): string {
  if (isGuid(text)) return text.toLowerCase();
  if (/^[0-9a-f]{32}$/i.test(text)) {
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16);
    return formatGuid(bytes);
  }
  return text.toLowerCase();
}

/** `member;range=1500-2999` → { start: 1500, end: 2999 }; `member;range=1500-*` → end: '*'. */
export function parseRangeKey(
  key: string,
  attribute: string,
): { start: number; end: number | '*' } | undefined {
  const match = /^([^;]+);range=(\d+)-(\d+|\*)$/i.exec(key);
  if (!match || match[1]?.toLowerCase() !== attribute.toLowerCase()) return undefined;
  const end = match[3] === '*' ? '*' : Number(match[3]);
  return { start: Number(match[2]), end };
}

/** The canonical GUID string back to its 16 wire bytes (inverse of {@link formatGuid}). */
export function guidBytes(guid: string): Uint8Array {
  if (!isGuid(guid)) throw new Error(`not a GUID: ${guid}`);
  const hex = guid.replace(/-/g, '');
  const byte = (i: number) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  const out = new Uint8Array(16);
  order.forEach((source, i) => (out[i] = byte(source)));
  return out;
}

/** LDAP GeneralizedTime (whenCreated: "20261125015600.0Z") to a Date, or undefined. */
export function parseGeneralizedTime(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:[.,]\d+)?Z$/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0));
}
