/**
 * Audit lines in the shapes the domain controllers write them (Samba's JSON audit, Windows
 * Security events through Winlogbeat and OpenWEC), reduced to records; and records matched
 * to events. Values in a record never come through.
 */
import { describe, expect, it } from 'vitest';

import {
  isSid,
  parseSambaAudit,
  parseWindowsEvent,
  untrustedBecause,
  type AuditRecord,
} from '../../src/core/audit.js';
import { actorSids, recordsOf, type StoredAuditRecord } from '../../src/core/correlate.js';
import type { DirectoryEvent } from '../../src/core/events.js';

const OPERATOR = 'S-1-5-21-1-2-3-1102';
const GROUP = 'CN=G1,OU=Exp,DC=acme,DC=test';
const TARGET = 'CN=Target,OU=Exp,DC=acme,DC=test';
const TARGET_GUID = '0f5a3f9e-62c1-4b6e-9d0a-1f2e3d4c5b6a';

const samba = (type: string, body: object, header = '') =>
  `${header}${JSON.stringify({ timestamp: '2026-12-02T03:47:55.933488+0000', type, [type]: body })}`;

describe('parseSambaAudit', () => {
  it('a Modify becomes one record per attribute, its values dropped; a debug header before the JSON is fine', () => {
    const line = samba(
      'dsdbChange',
      {
        statusCode: 0,
        operation: 'Modify',
        userSid: OPERATOR,
        dn: TARGET,
        attributes: {
          telephoneNumber: { actions: [{ action: 'replace', values: [{ value: '+1 555' }] }] },
          'ms-Mcs-AdmPwd': { actions: [{ action: 'replace', values: [{ value: 'S3cret-LAPS' }] }] },
        },
      },
      '[2026/12/02 03:47:55.933520,  5] ../../source4/dsdb/samdb/ldb_modules/audit_log.c:1011(log_standard_operation)\n  ',
    );
    const records = parseSambaAudit(line);
    expect(records).toEqual([
      expect.objectContaining({
        at: '2026-12-02T03:47:55.933Z',
        actorSid: OPERATOR,
        operation: 'modify',
        dn: TARGET,
        attribute: 'telephoneNumber',
      }),
      expect.objectContaining({ operation: 'modify', attribute: 'ms-Mcs-AdmPwd' }),
    ]);
    expect(JSON.stringify(records)).not.toContain('S3cret');
  });

  it('a member change: the group record with the member, from groupChange and from the member attribute', () => {
    const group = samba('groupChange', {
      statusCode: 0,
      eventId: 4728,
      action: 'Added',
      userSid: OPERATOR,
      group: GROUP,
      user: TARGET,
    });
    const modify = samba('dsdbChange', {
      statusCode: 0,
      operation: 'Modify',
      userSid: OPERATOR,
      dn: GROUP,
      attributes: {
        member: {
          actions: [
            {
              action: 'delete',
              values: [{ value: `<GUID=${TARGET_GUID.toUpperCase()}>;<SID=S-1-5-21-1-2-3-1200>;${TARGET}` }],
            },
          ],
        },
      },
    });
    expect(parseSambaAudit(group)).toEqual([
      expect.objectContaining({
        operation: 'member-add',
        dn: GROUP,
        member: { dn: TARGET, guid: null, sid: null },
      }),
    ]);
    expect(parseSambaAudit(modify)).toEqual([
      expect.objectContaining({
        operation: 'member-remove',
        dn: GROUP,
        member: { dn: TARGET, guid: TARGET_GUID, sid: 'S-1-5-21-1-2-3-1200' },
      }),
    ]);
  });

  it('ignores failed operations, PrimaryGroup changes, other record types and lines that are not JSON', () => {
    expect(
      parseSambaAudit(
        samba('dsdbChange', {
          statusCode: 50,
          operation: 'Modify',
          userSid: OPERATOR,
          dn: TARGET,
          attributes: { a: {} },
        }),
      ),
    ).toEqual([]);
    expect(
      parseSambaAudit(
        samba('groupChange', {
          statusCode: 0,
          action: 'PrimaryGroup',
          userSid: OPERATOR,
          group: GROUP,
          user: TARGET,
        }),
      ),
    ).toEqual([]);
    expect(parseSambaAudit(samba('Authentication', { status: 'NT_STATUS_OK' }))).toEqual([]);
    expect(parseSambaAudit('[2026/12/02 03:47:55] samba: starting')).toEqual([]);
    expect(parseSambaAudit('{"timestamp": broken')).toEqual([]);
  });
});

describe('parseWindowsEvent', () => {
  const winlogbeat = (id: number, data: object) =>
    JSON.stringify({
      '@timestamp': '2026-12-02T03:47:56.120Z',
      winlog: {
        event_id: id,
        computer_name: 'dc1.acme.test',
        event_data: { SubjectUserSid: OPERATOR, SubjectUserName: 'oop', SubjectDomainName: 'ACME', ...data },
      },
    });
  const openwec = (id: number, data: object) =>
    JSON.stringify({
      System: { EventID: id, TimeCreated: '2026-12-02T03:47:56.1200000Z', Computer: 'dc1.acme.test' },
      EventData: { SubjectUserSid: OPERATOR, SubjectUserName: 'oop', SubjectDomainName: 'ACME', ...data },
    });

  for (const [name, line] of [
    ['Winlogbeat', winlogbeat],
    ['OpenWEC', openwec],
  ] as const) {
    it(`${name}: 5136 value added to an attribute, and to member; the value itself is dropped`, () => {
      const attr = line(5136, {
        ObjectDN: TARGET,
        ObjectGUID: `{${TARGET_GUID.toUpperCase()}}`,
        AttributeLDAPDisplayName: 'telephoneNumber',
        AttributeValue: '+1 555',
        OperationType: '%%14674',
        OpCorrelationID: '{a}',
      });
      expect(parseWindowsEvent(attr)).toEqual([
        {
          at: '2026-12-02T03:47:56.120Z',
          actorSid: OPERATOR,
          actorAccount: 'ACME\\oop',
          operation: 'modify',
          objectGuid: TARGET_GUID,
          dn: TARGET,
          account: null,
          attribute: 'telephoneNumber',
          member: null,
          origin: { channel: null, provider: null, computer: 'dc1.acme.test', domain: null },
        },
      ]);
      const member = line(5136, {
        ObjectDN: GROUP,
        AttributeLDAPDisplayName: 'member',
        AttributeValue: TARGET,
        OperationType: 'Value Deleted',
      });
      expect(parseWindowsEvent(member)).toEqual([
        expect.objectContaining({
          operation: 'member-remove',
          member: { dn: TARGET, guid: null, sid: null },
        }),
      ]);
    });

    it(`${name}: 5137, 5139, 5141, 4728/4729 and 4738`, () => {
      expect(parseWindowsEvent(line(5137, { ObjectDN: TARGET }))[0]?.operation).toBe('add');
      expect(
        parseWindowsEvent(
          line(5139, { OldObjectDN: TARGET, NewObjectDN: 'CN=Target,OU=New,DC=acme,DC=test' }),
        )[0],
      ).toMatchObject({ operation: 'move', dn: 'CN=Target,OU=New,DC=acme,DC=test' });
      expect(parseWindowsEvent(line(5141, { ObjectDN: TARGET }))[0]?.operation).toBe('delete');
      expect(
        parseWindowsEvent(
          line(4729, { TargetUserName: 'G1', MemberName: TARGET, MemberSid: 'S-1-5-21-1-2-3-1200' }),
        )[0],
      ).toMatchObject({
        operation: 'member-remove',
        account: 'G1',
        member: { dn: TARGET, sid: 'S-1-5-21-1-2-3-1200' },
      });
      expect(parseWindowsEvent(line(4738, { TargetUserName: 'target' }))[0]).toMatchObject({
        operation: 'modify',
        account: 'target',
        attribute: null,
      });
      expect(parseWindowsEvent(line(4624, { TargetUserName: 'target' }))).toEqual([]);
    });
  }
});

describe('untrustedBecause: which forwarded Windows events are believed', () => {
  const domain = {
    controllers: new Set(['dc1.acme.test', 'dc1']),
    names: new Set(['acme.test', 'acme']),
  };
  const event = (over: Record<string, unknown>, data: Record<string, unknown> = {}) =>
    parseWindowsEvent(
      JSON.stringify({
        '@timestamp': '2026-12-02T03:47:56.120Z',
        winlog: {
          event_id: 4738,
          channel: 'Security',
          provider_name: 'Microsoft-Windows-Security-Auditing',
          computer_name: 'dc1.acme.test',
          ...over,
          event_data: {
            SubjectUserSid: OPERATOR,
            TargetUserName: 'target',
            TargetDomainName: 'ACME',
            ...data,
          },
        },
      }),
    )[0]!;

  it.each([
    ['a DC of the domain, Security channel, Security-Auditing', {}, {}, null],
    [
      'a workstation (local SAM)',
      { computer_name: 'WKS01.acme.test' },
      { TargetDomainName: 'WKS01' },
      'logged by WKS01.acme.test, not a DC of the domain',
    ],
    [
      'the right DC, about a local account of another name',
      {},
      { TargetDomainName: 'WKS01' },
      'about domain WKS01, not the watched one',
    ],
    ['another channel', { channel: 'ForwardedEvents' }, {}, 'channel ForwardedEvents, not Security'],
    [
      'another provider',
      { provider_name: 'Evil' },
      {},
      'provider Evil, not Microsoft-Windows-Security-Auditing',
    ],
    [
      'no computer named',
      { computer_name: undefined },
      {},
      'logged by (no computer), not a DC of the domain',
    ],
  ])('%s: %s', (_name, over, data, expected) => {
    expect(untrustedBecause(event(over, data), domain)).toBe(expected);
  });

  it("believes Samba's own audit log, which has no origin", () => {
    const record = parseSambaAudit(
      samba('dsdbChange', { statusCode: 0, operation: 'Delete', userSid: OPERATOR, dn: TARGET }),
    )[0]!;
    expect(untrustedBecause(record, domain)).toBeNull();
  });
});

describe('recordsOf: which records made an event', () => {
  let id = 0;
  const rec = (over: Partial<AuditRecord>): StoredAuditRecord => ({
    id: ++id,
    at: '2026-12-02T03:47:55.000Z',
    actorSid: OPERATOR,
    actorAccount: null,
    operation: 'modify',
    objectGuid: null,
    dn: TARGET,
    account: null,
    attribute: 'telephoneNumber',
    member: null,
    ...over,
  });
  const object = { guid: TARGET_GUID, dn: TARGET, class: 'user' };
  const modified: DirectoryEvent = {
    type: 'object.modified',
    object,
    changes: [
      { attribute: 'telephoneNumber', before: [], after: ['1'] },
      { attribute: 'title', before: [], after: ['x'] },
    ],
  };

  it('prefers a record naming the attribute over a generic 4738, however late the 4738 is', () => {
    const phone = rec({});
    const generic = rec({ attribute: null, actorSid: 'S-1-5-21-9-9-9-500', at: '2026-12-02T03:49:00.000Z' });
    const found = recordsOf(modified, null, [phone, generic]);
    expect(found.get('telephonenumber')).toEqual([phone]);
    expect(found.get('title')).toEqual([generic]); // no specific record: the generic one stands
  });

  it('keeps each attribute its own records: two people changing one object are both found', () => {
    const phone = rec({});
    const title = rec({ attribute: 'Title', actorSid: 'S-1-5-21-1-2-3-500', at: '2026-12-02T03:48:00.000Z' });
    const other = rec({ dn: 'CN=Other,OU=Exp,DC=acme,DC=test' });
    const found = recordsOf(modified, null, [phone, title, other]);
    expect([...found]).toEqual([
      ['telephonenumber', [phone]],
      ['title', [title]],
    ]);
    expect(actorSids([...found.values()].flat())).toEqual([OPERATOR, 'S-1-5-21-1-2-3-500']);
  });

  it('matches by GUID before DN (a renamed object), by account name for 47xx, and the member of a member change', () => {
    expect(
      recordsOf(modified, null, [rec({ objectGuid: TARGET_GUID, dn: 'CN=Old name,OU=Exp,DC=acme,DC=test' })])
        .size,
    ).toBe(1);
    expect(
      recordsOf(modified, null, [rec({ objectGuid: 'ffffffff-0000-4000-8000-000000000000' })]).size,
    ).toBe(0);
    expect(recordsOf(modified, 'target', [rec({ dn: null, account: 'TARGET', attribute: null })]).size).toBe(
      2,
    );
    const added: DirectoryEvent = {
      type: 'group.member.added',
      object: { guid: 'g', dn: GROUP, class: 'group' },
      member: { guid: TARGET_GUID, dn: TARGET, class: 'user' },
    };
    const right = rec({
      dn: GROUP,
      operation: 'member-add',
      attribute: 'member',
      member: { dn: TARGET, guid: null, sid: null },
    });
    const wrong = rec({
      dn: GROUP,
      operation: 'member-add',
      attribute: 'member',
      member: { dn: 'CN=Else,DC=acme,DC=test', guid: null, sid: null },
    });
    const removed = rec({
      dn: GROUP,
      operation: 'member-remove',
      attribute: 'member',
      member: { dn: TARGET, guid: null, sid: null },
    });
    expect(recordsOf(added, null, [right, wrong, removed]).get('')).toEqual([right]);
  });
});

describe('isSid', () => {
  it.each([
    ['S-1-5-18', true],
    ['S-1-5-21-3034285413-741123119-163748751-1104', true],
    ['S-1-5-21-1(', false],
    ['*', false],
    ['S-1-5-21-1)(objectClass=*', false],
    ['s-1-5-18', false],
    ['', false],
  ])('%s is a SID: %s', (text, expected) => {
    expect(isSid(text)).toBe(expected);
  });
});
