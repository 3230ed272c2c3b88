/**
 * Search entries read lean (entryReader.ts): framed by ldapts's parser on arrival, decoded by
 * readAttributes afterwards into the same values ldapts would have made, and only for the
 * searches marked lean. The wire bytes are written with ldapts's own BER writer.
 */
import { BerWriter, MessageParser, PresenceFilter, SearchEntry, SearchRequest } from 'ldapts';
import { describe, expect, it } from 'vitest';

import { installLeanEntryReader, leanSearch, readAttributes } from '../../src/directory/entryReader.js';
import { entryFromAttributes, toDirectoryEntry } from '../../src/core/normalize.js';

const GUID = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

/** A SearchResultEntry message for `id`: `dn` and the attributes, values as text or bytes. */
function entryMessage(id: number, dn: string, attributes: [string, (string | Buffer)[]][]): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(id);
  w.startSequence(0x64);
  w.writeString(dn);
  w.startSequence();
  for (const [type, values] of attributes) {
    w.startSequence();
    w.writeString(type);
    w.startSequence(0x31);
    for (const v of values) w.writeBuffer(typeof v === 'string' ? Buffer.from(v, 'utf8') : v, 0x04);
    w.endSequence();
    w.endSequence();
  }
  w.endSequence();
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

/** The messages `bytes` parse into, for a search request made with `explicitBufferAttributes`. */
function receive(bytes: Buffer, explicitBufferAttributes: string[]): SearchEntry[] {
  installLeanEntryReader();
  const request = new SearchRequest({
    messageId: 5,
    baseDN: 'DC=example,DC=test',
    filter: new PresenceFilter({ attribute: 'objectClass' }),
    explicitBufferAttributes,
  });
  const parser = new MessageParser();
  const messages: SearchEntry[] = [];
  const errors: unknown[] = [];
  parser.on('message', (m) => {
    if (m instanceof SearchEntry) messages.push(m);
  });
  parser.on('error', (err: unknown) => errors.push(err));
  parser.read(bytes, new Map([['5', { message: request }]]));
  expect(errors).toEqual([]);
  return messages;
}

const ATTRIBUTES: [string, (string | Buffer)[]][] = [
  ['objectClass', ['top', 'group']],
  ['objectGUID', [GUID]],
  ['uSNChanged', ['4711']],
  ['displayName', ['Zoë Ångström']],
  ['description', []],
  ['thumbnailPhoto', [Buffer.from([0xff, 0xd8, 0xff])]],
  // One value not valid UTF-8 makes every value of the attribute bytes.
  ['info', ['plain', Buffer.from([0x61, 0xc3])]],
  // A replacement character sent as such is text.
  ['comment', ['kept \uFFFD as sent']],
  ['manager', ['<GUID=8a3e8c1f-7a0b-4ab3-9e3b-3f0c7c1d2e4f>;CN=Boss,DC=example,DC=test']],
  ['userCertificate;binary', [Buffer.from('3082', 'hex')]],
  [
    'member',
    ['<GUID=11111111-2222-3333-4444-555555555555>;CN=a', '<GUID=66666666-7777-8888-9999-000000000000>;CN=b'],
  ],
];

describe('lean search entries', () => {
  it('decode to the values ldapts makes, and to the same directory entry', () => {
    const bytes = entryMessage(5, 'CN=Zoë,DC=example,DC=test', ATTRIBUTES);
    const [lean] = receive(bytes, leanSearch(['objectGUID']));
    const [parsed] = receive(bytes, ['objectGUID']);
    if (!lean || !parsed) throw new Error('no entry');
    expect(parsed.attributes.length).toBe(ATTRIBUTES.length); // ldapts parsed this one itself
    expect(lean.attributes).toEqual([]); // framed only

    const attributes = readAttributes(lean.toObject([], []), new Set(['objectguid']));
    expect(attributes.map(([type]) => type)).toEqual(ATTRIBUTES.map(([type]) => type));
    expect(Object.fromEntries(attributes)).toMatchObject({
      displayName: ['Zoë Ångström'],
      description: [],
      objectGUID: [GUID],
      // Not valid UTF-8: bytes, as ldapts gives them; `;binary` is bytes whatever it holds.
      thumbnailPhoto: [Buffer.from([0xff, 0xd8, 0xff])],
      info: [Buffer.from('plain'), Buffer.from([0x61, 0xc3])],
      comment: ['kept \uFFFD as sent'],
      'userCertificate;binary': [Buffer.from('3082', 'hex')],
    });

    const viaLdapts = toDirectoryEntry(parsed.toObject([], ['objectGUID']));
    const viaLean = entryFromAttributes(lean.name, attributes);
    expect(viaLean).toEqual(viaLdapts);
    expect(viaLean.entry).toMatchObject({
      guid: '33221100-5544-7766-8899-aabbccddeeff',
      dn: 'CN=Zoë,DC=example,DC=test',
      usnChanged: 4711n,
      members: [
        { guid: '11111111-2222-3333-4444-555555555555', dn: 'CN=a' },
        { guid: '66666666-7777-8888-9999-000000000000', dn: 'CN=b' },
      ],
    });
  });

  it('names the entry and the place when the attribute list is malformed', () => {
    const bytes = entryMessage(5, 'CN=Broken,DC=example,DC=test', [['cn', ['x']]]);
    const [lean] = receive(bytes, leanSearch([]));
    if (!lean) throw new Error('no entry');
    const entry = lean.toObject([], []);
    const raw = Object.getOwnPropertySymbols(entry).map((s) => (entry as never)[s] as Buffer)[0];
    if (!raw) throw new Error('no raw bytes');
    raw[0] = 0x31; // a SET where the attribute's SEQUENCE belongs
    expect(() => readAttributes(entry, new Set())).toThrow(
      /malformed entry for CN=Broken,DC=example,DC=test: expected tag 0x30 at byte 0/,
    );
  });

  it('refuses an entry that a lean search did not read', () => {
    expect(() => readAttributes({ dn: 'CN=x' }, new Set())).toThrow(/not read by a lean search/);
  });
});
