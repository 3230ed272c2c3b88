import { describe, expect, it } from 'vitest';

import { parseUpToDateVector } from '../../src/core/upToDateness.js';

import {
  formatGuid,
  formatSid,
  parseExtendedDn,
  parseRangeKey,
  toDirectoryEntry,
  toValueList,
} from '../../src/core/normalize.js';

// objectGUID bytes as AD stores them, and the form Windows shows (MS-DTYP 2.3.4.2).
const GUID_BYTES = Uint8Array.from([
  0x00, 0x09, 0x67, 0x76, 0xf5, 0x84, 0xd0, 0x4e, 0x89, 0x92, 0xf0, 0x7e, 0xcb, 0x7c, 0x43, 0x1f,
]);
const GUID_TEXT = '76670900-84f5-4ed0-8992-f07ecb7c431f';

describe('formatGuid', () => {
  it('puts the first three fields in little-endian order and the rest as stored', () => {
    expect(formatGuid(GUID_BYTES)).toBe(GUID_TEXT);
  });
  it('rejects a value that is not 16 bytes', () => {
    expect(() => formatGuid(new Uint8Array(15))).toThrow(/16 bytes/);
  });
});

describe('formatSid', () => {
  it('formats a domain SID with its sub-authorities', () => {
    const sid = Uint8Array.from([
      1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0x3a, 0x3b, 0x88, 0xa7, 0x28, 0x5b, 0x3e, 0xb8, 0x81, 0x3e, 0x67,
      0x38, 0xf4, 0x01, 0x00, 0x00,
    ]);
    expect(formatSid(sid)).toBe('S-1-5-21-2810723130-3091094312-946290305-500');
  });
});

describe('toValueList', () => {
  it.each([
    ['a scalar becomes a one-item list', 'x', ['x']],
    ['a list stays a list', ['x', 'y'], ['x', 'y']],
    ['missing becomes empty', undefined, []],
    ['an empty list stays empty', [], []],
  ])('%s', (_name, raw, expected) => {
    expect(toValueList(raw)).toEqual(expected);
  });

  it('keeps binary values as bytes', () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe]);
    const [value] = toValueList(bytes);
    expect(value).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(value as Uint8Array)).toEqual(bytes);
  });

  it('turns an Extended DN value into a DN reference carrying the GUID', () => {
    expect(
      toValueList(`<GUID=${GUID_TEXT}>;<SID=S-1-5-21-1-2-3-1105>;CN=Boss,OU=Staff,DC=example,DC=com`, true),
    ).toEqual([
      { kind: 'dn', guid: GUID_TEXT, sid: 'S-1-5-21-1-2-3-1105', dn: 'CN=Boss,OU=Staff,DC=example,DC=com' },
    ]);
  });
});

describe('parseExtendedDn', () => {
  it.each([
    [
      'GUID and SID',
      `<GUID=${GUID_TEXT.toUpperCase()}>;<SID=S-1-5-21-9-9-9-500>;CN=A,DC=x`,
      { guid: GUID_TEXT, sid: 'S-1-5-21-9-9-9-500', dn: 'CN=A,DC=x' },
    ],
    [
      'GUID only (a contact has no SID)',
      `<GUID=${GUID_TEXT}>;CN=C,DC=x`,
      { guid: GUID_TEXT, sid: null, dn: 'CN=C,DC=x' },
    ],
    [
      'GUID as hex bytes (flag 0)',
      '<GUID=00096776f584d04e8992f07ecb7c431f>;CN=C',
      { guid: GUID_TEXT, sid: null, dn: 'CN=C' },
    ],
    [
      'a plain DN (control ignored)',
      'CN=Plain\\, Person,DC=x',
      { guid: null, sid: null, dn: 'CN=Plain\\, Person,DC=x' },
    ],
  ])('%s', (_name, input, expected) => {
    expect(parseExtendedDn(input)).toEqual(expected);
  });
});

describe('parseRangeKey', () => {
  it.each([
    ['member;range=0-1499', { start: 0, end: 1499 }],
    ['member;range=1500-*', { start: 1500, end: '*' }],
    ['Member;Range=3-7', { start: 3, end: 7 }],
    ['member', undefined],
    ['managedBy;range=0-1', undefined],
  ])('%s', (key, expected) => {
    expect(parseRangeKey(key, 'member')).toEqual(expected);
  });
});

function withoutMember<T extends { member?: unknown }>(entry: T): Omit<T, 'member'> {
  const copy = { ...entry };
  delete copy.member;
  return copy;
}

describe('toDirectoryEntry', () => {
  const base = {
    dn: `<GUID=${GUID_TEXT}>;CN=Team,OU=Groups,DC=x`,
    objectGUID: Buffer.from(GUID_BYTES),
    uSNChanged: '12345678901234',
    objectClass: ['top', 'group'],
    description: 'Team',
    member: [`<GUID=${GUID_TEXT}>;CN=A,DC=x`],
  };

  it('keys the entry by GUID, strips the Extended DN prefix and keeps member out of attributes', () => {
    const { entry, nextMemberRange } = toDirectoryEntry(base);
    expect(entry.guid).toBe(GUID_TEXT);
    expect(entry.dn).toBe('CN=Team,OU=Groups,DC=x');
    expect(entry.usnChanged).toBe(12345678901234n);
    expect(entry.members).toEqual([{ guid: GUID_TEXT, sid: null, dn: 'CN=A,DC=x' }]);
    expect([...entry.attributes.keys()]).toEqual(['description']);
    expect(nextMemberRange).toBeUndefined();
  });

  it('reports where to continue when member arrived as a partial range', () => {
    const rest = withoutMember(base);
    const { entry, nextMemberRange } = toDirectoryEntry({ ...rest, 'member;range=0-1': ['CN=A', 'CN=B'] });
    expect(entry.members?.map((m) => m.dn)).toEqual(['CN=A', 'CN=B']);
    expect(nextMemberRange).toBe(2);
  });

  it('treats an empty range key (requested, not returned) as the end', () => {
    const rest = withoutMember(base);
    const { entry, nextMemberRange } = toDirectoryEntry({ ...rest, 'member;range=0-1': [] });
    expect(entry.members).toEqual([]);
    expect(nextMemberRange).toBeUndefined();
  });

  it('gives a group with no members an empty list and a user no member list at all', () => {
    const rest = withoutMember(base);
    expect(toDirectoryEntry(rest).entry.members).toEqual([]);
    const user = toDirectoryEntry({
      ...rest,
      objectClass: ['top', 'person', 'organizationalPerson', 'user'],
      'member;range=0-0': [],
    });
    expect(user.entry.members).toBeUndefined();
  });

  it('parses Extended DN values of DN-syntax attributes only: a text value that looks like one stays text', () => {
    const forged = `<GUID=${GUID_TEXT}>;CN=Domain Admins,CN=Users,DC=x`;
    const { entry } = toDirectoryEntry(
      { ...base, description: forged, managedBy: `<GUID=${GUID_TEXT}>;CN=Boss,DC=x` },
      new Set(['managedby']),
    );
    expect(entry.attributes.get('description')).toEqual([forged]);
    expect(entry.attributes.get('managedBy')).toEqual([
      { kind: 'dn', guid: GUID_TEXT, sid: null, dn: 'CN=Boss,DC=x' },
    ]);
  });

  it('refuses an entry whose objectGUID did not arrive as bytes', () => {
    expect(() => toDirectoryEntry({ ...base, objectGUID: 'not-bytes' })).toThrow(/objectGUID/);
  });
});

describe('parseUpToDateVector', () => {
  it('reads version 2 cursors (invocationId, highest USN, last sync) as Samba returns them', () => {
    const blob = Buffer.alloc(16 + 2 * 32);
    blob.writeUInt32LE(2, 0);
    blob.writeUInt32LE(2, 8);
    Buffer.from(GUID_BYTES).copy(blob, 16);
    blob.writeBigUInt64LE(9_007_199_254_740_993n, 32);
    blob.fill(0xab, 48, 64);
    blob.writeBigUInt64LE(42n, 64);
    expect(parseUpToDateVector(blob)).toEqual(
      new Map([
        [GUID_TEXT, 9_007_199_254_740_993n],
        ['abababab-abab-abab-abab-abababababab', 42n],
      ]),
    );
  });

  it('refuses a blob whose cursors do not fit, or of an unknown version', () => {
    const short = Buffer.alloc(16);
    short.writeUInt32LE(2, 0);
    short.writeUInt32LE(1, 8);
    expect(() => parseUpToDateVector(short)).toThrow(/do not fit/);
    short.writeUInt32LE(3, 0);
    expect(() => parseUpToDateVector(short)).toThrow(/unknown version 3/);
  });
});
