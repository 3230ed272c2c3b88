/**
 * The pure event derivation, on plain objects: each row is a snapshot before, an entry after,
 * and the exact events expected.
 */
import { describe, expect, it } from 'vitest';

import { AttributeSet, BUILTIN_IGNORED_ATTRIBUTES } from '../../src/core/attributes.js';
import {
  deletionEvents,
  deriveEvents,
  diffAttributes,
  diffMembers,
  type DiffPolicy,
  type DirectoryEvent,
  type ObjectChange,
} from '../../src/core/events.js';
import {
  attributeValues,
  type SnapshotObject,
  type SnapshotValue,
  type StoredMember,
} from '../../src/core/snapshot.js';

const G = {
  alice: '11111111-1111-4111-8111-111111111111',
  bob: '22222222-2222-4222-8222-222222222222',
  team: '33333333-3333-4333-8333-333333333333',
  boss: '44444444-4444-4444-8444-444444444444',
  other: '55555555-5555-4555-8555-555555555555',
};

const object = (
  guid: string,
  dn: string,
  cls: string,
  attributes: Record<string, SnapshotValue[]> = {},
): SnapshotObject => ({ guid, dn, class: cls, usnChanged: 1n, attributes });

const policy = (ignore: string[] = [], actorAttribute: string | null = null): DiffPolicy => ({
  ignore: new AttributeSet([...BUILTIN_IGNORED_ATTRIBUTES, ...ignore]),
  actorAttribute,
  classOf: (guid) => (guid === G.alice || guid === G.bob ? 'user' : null),
});

const alice = (attributes: Record<string, SnapshotValue[]> = {}, dn = 'CN=Alice,OU=Staff,DC=x') =>
  object(G.alice, dn, 'user', attributes);
const team = (dn = 'CN=Team,OU=Groups,DC=x') => object(G.team, dn, 'group');
const aliceRef = { guid: G.alice, dn: 'CN=Alice,OU=Staff,DC=x', class: 'user' };
const teamRef = { guid: G.team, dn: 'CN=Team,OU=Groups,DC=x', class: 'group' };
const member = (guid: string | null, dn: string): StoredMember => ({ guid, dn });

interface Row {
  name: string;
  change: ObjectChange;
  policy?: DiffPolicy;
  events: DirectoryEvent[];
}

const rows: Row[] = [
  {
    name: 'a new user is created',
    change: { after: { object: alice() }, created: true },
    events: [{ type: 'object.created', object: aliceRef }],
  },
  {
    name: 'an existing user that only came into scope is marked so',
    change: { after: { object: alice() }, created: false },
    events: [{ type: 'object.created', object: aliceRef, enteredScope: true }],
  },
  {
    name: 'a new group reports its initial members as added',
    change: {
      after: { object: team(), members: [member(G.alice, 'CN=Alice,OU=Staff,DC=x')] },
      created: true,
    },
    events: [
      { type: 'object.created', object: teamRef },
      { type: 'group.member.added', object: teamRef, member: aliceRef },
    ],
  },
  {
    name: 'a group that came into scope does not report its members as added',
    change: {
      after: { object: team(), members: [member(G.alice, 'CN=Alice,OU=Staff,DC=x')] },
      created: false,
    },
    events: [{ type: 'object.created', object: teamRef, enteredScope: true }],
  },
  {
    name: 'nothing changed: no event',
    change: {
      before: { object: alice({ title: ['Engineer'] }) },
      after: { object: alice({ title: ['Engineer'] }) },
      created: false,
    },
    events: [],
  },
  {
    name: 'single-valued replace, value added, value removed',
    change: {
      before: { object: alice({ telephoneNumber: ['+1 555 0100'], title: ['Engineer'] }) },
      after: { object: alice({ telephoneNumber: ['+1 555 0199'], department: ['R&D'] }) },
      created: false,
    },
    events: [
      {
        type: 'object.modified',
        object: aliceRef,
        changes: [
          { attribute: 'department', before: [], after: ['R&D'] },
          { attribute: 'telephoneNumber', before: ['+1 555 0100'], after: ['+1 555 0199'] },
          { attribute: 'title', before: ['Engineer'], after: [] },
        ],
      },
    ],
  },
  {
    name: 'multi-valued attributes compare as sets: reordering is no change',
    change: {
      before: { object: alice({ otherTelephone: ['1', '2'] }) },
      after: { object: alice({ otherTelephone: ['2', '1'] }) },
      created: false,
    },
    events: [],
  },
  {
    name: 'a multi-valued attribute gains a value',
    change: {
      before: { object: alice({ otherTelephone: ['1', '2'] }) },
      after: { object: alice({ otherTelephone: ['2', '1', '3'] }) },
      created: false,
    },
    events: [
      {
        type: 'object.modified',
        object: aliceRef,
        changes: [{ attribute: 'otherTelephone', before: ['1', '2'], after: ['2', '1', '3'] }],
      },
    ],
  },
  {
    name: 'a renamed manager is the same manager (DN values compare by GUID)',
    change: {
      before: { object: alice({ manager: [{ dn: 'CN=Boss,DC=x', guid: G.boss }] }) },
      after: { object: alice({ manager: [{ dn: 'CN=Big Boss,DC=x', guid: G.boss }] }) },
      created: false,
    },
    events: [],
  },
  {
    name: 'a different manager is a change, shown by DN',
    change: {
      before: { object: alice({ manager: [{ dn: 'CN=Boss,DC=x', guid: G.boss }] }) },
      after: { object: alice({ manager: [{ dn: 'CN=Other,DC=x', guid: G.other }] }) },
      created: false,
    },
    events: [
      {
        type: 'object.modified',
        object: aliceRef,
        changes: [{ attribute: 'manager', before: ['CN=Boss,DC=x'], after: ['CN=Other,DC=x'] }],
      },
    ],
  },
  {
    name: 'binary values compare by hash and are shown as hashes',
    change: {
      before: { object: alice({ thumbnailPhoto: [{ sha256: 'aa', bytes: 10 }] }) },
      after: { object: alice({ thumbnailPhoto: [{ sha256: 'bb', bytes: 12 }] }) },
      created: false,
    },
    events: [
      {
        type: 'object.modified',
        object: aliceRef,
        changes: [{ attribute: 'thumbnailPhoto', binary: true, before: ['aa'], after: ['bb'] }],
      },
    ],
  },
  {
    name: 'redacted attributes say "changed" and carry no values',
    change: {
      before: { object: alice({ info: [{ sha256: 'aa', redacted: true }] }) },
      after: { object: alice({ info: [{ sha256: 'bb', redacted: true }] }) },
      created: false,
    },
    events: [{ type: 'object.modified', object: aliceRef, changes: [{ attribute: 'info', redacted: true }] }],
  },
  {
    name: 'a redacted attribute that appears is reported without values',
    change: {
      before: { object: alice() },
      after: { object: alice({ info: [{ sha256: 'bb', redacted: true }] }) },
      created: false,
    },
    events: [{ type: 'object.modified', object: aliceRef, changes: [{ attribute: 'info', redacted: true }] }],
  },
  {
    name: 'configured and built-in ignored attributes never produce events (any case)',
    change: {
      before: { object: alice({ description: ['a'], logonCount: ['1'], whenChanged: ['x'] }) },
      after: { object: alice({ Description: ['b'], logonCount: ['2'], whenChanged: ['y'] }) },
      created: false,
    },
    policy: policy(['description']),
    events: [],
  },
  {
    name: 'attribute names match case-insensitively',
    change: {
      before: { object: alice({ TelephoneNumber: ['1'] }) },
      after: { object: alice({ telephoneNumber: ['1'] }) },
      created: false,
    },
    events: [],
  },
  {
    name: 'a rename is object.moved; the naming attribute and name are not reported again',
    change: {
      before: { object: alice({ cn: ['Alice'], name: ['Alice'] }) },
      after: { object: alice({ cn: ['Alicia'], name: ['Alicia'] }, 'CN=Alicia,OU=Staff,DC=x') },
      created: false,
    },
    events: [
      {
        type: 'object.moved',
        object: { ...aliceRef, dn: 'CN=Alicia,OU=Staff,DC=x' },
        from: 'CN=Alice,OU=Staff,DC=x',
        to: 'CN=Alicia,OU=Staff,DC=x',
      },
    ],
  },
  {
    name: 'a move with another change: moved, then modified',
    change: {
      before: { object: alice({ title: ['A'] }) },
      after: { object: alice({ title: ['B'] }, 'CN=Alice,OU=Sales,DC=x') },
      created: false,
    },
    events: [
      {
        type: 'object.moved',
        object: { ...aliceRef, dn: 'CN=Alice,OU=Sales,DC=x' },
        from: 'CN=Alice,OU=Staff,DC=x',
        to: 'CN=Alice,OU=Sales,DC=x',
      },
      {
        type: 'object.modified',
        object: { ...aliceRef, dn: 'CN=Alice,OU=Sales,DC=x' },
        changes: [{ attribute: 'title', before: ['A'], after: ['B'] }],
      },
    ],
  },
  {
    name: 'a member renamed in the group: same GUID, no membership event',
    change: {
      before: { object: team(), members: [member(G.alice, 'CN=Alice,OU=Staff,DC=x')] },
      after: { object: team(), members: [member(G.alice, 'CN=Alicia,OU=Staff,DC=x')] },
      created: false,
    },
    events: [],
  },
  {
    name: 'members added and removed by GUID; outside members by DN, class null',
    change: {
      before: {
        object: team(),
        members: [member(G.alice, 'CN=Alice,OU=Staff,DC=x'), member(null, 'CN=Legacy,DC=x')],
      },
      after: {
        object: team(),
        members: [member(G.bob, 'CN=Bob,OU=Staff,DC=x'), member(G.other, 'CN=PC1,OU=Computers,DC=x')],
      },
      created: false,
    },
    events: [
      {
        type: 'group.member.added',
        object: teamRef,
        member: { guid: G.bob, dn: 'CN=Bob,OU=Staff,DC=x', class: 'user' },
      },
      {
        type: 'group.member.added',
        object: teamRef,
        member: { guid: G.other, dn: 'CN=PC1,OU=Computers,DC=x', class: null },
      },
      { type: 'group.member.removed', object: teamRef, member: aliceRef },
      {
        type: 'group.member.removed',
        object: teamRef,
        member: { guid: null, dn: 'CN=Legacy,DC=x', class: null },
      },
    ],
  },
  {
    name: 'the actor is carried on the events and its attribute is never a change',
    change: {
      before: { object: alice({ title: ['A'], modifiersName: [{ dn: 'CN=Admin1,DC=x', guid: null }] }) },
      after: { object: alice({ title: ['B'], modifiersName: [{ dn: 'CN=Admin2,DC=x', guid: null }] }) },
      created: false,
    },
    policy: policy([], 'modifiersName'),
    events: [
      {
        type: 'object.modified',
        object: aliceRef,
        actor: { sid: null, account: null, name: null, dn: 'CN=Admin2,DC=x' },
        changes: [{ attribute: 'title', before: ['A'], after: ['B'] }],
      },
    ],
  },
];

describe('deriveEvents', () => {
  it.each(rows)('$name', ({ change, policy: p, events }) => {
    expect(deriveEvents(change, p ?? policy())).toEqual(events);
  });
});

describe('deletionEvents', () => {
  it('a deleted watched member: object.deleted, then removed from each group the snapshot knew', () => {
    const g2 = object(G.other, 'CN=Two,OU=Groups,DC=x', 'group');
    expect(deletionEvents(alice(), aliceRef, [team(), g2])).toEqual([
      { type: 'object.deleted', object: aliceRef },
      { type: 'group.member.removed', object: teamRef, member: aliceRef },
      {
        type: 'group.member.removed',
        object: { guid: G.other, dn: g2.dn, class: 'group' },
        member: aliceRef,
      },
    ]);
  });

  it('a deleted member outside the scope: only its removals, by DN', () => {
    const pc = { guid: G.other, dn: 'CN=PC1,OU=Computers,DC=x', class: null };
    expect(deletionEvents(undefined, pc, [team()])).toEqual([
      { type: 'group.member.removed', object: teamRef, member: pc },
    ]);
  });
});

describe('diffAttributes and diffMembers', () => {
  it('sorts changes by attribute name', () => {
    const changes = diffAttributes({}, { b: ['1'], a: ['1'], c: ['1'] }, new AttributeSet([]));
    expect(changes.map((c) => c.attribute)).toEqual(['a', 'b', 'c']);
  });

  it('matches names case-insensitively: a change under the new spelling, a removal under the old', () => {
    const changes = diffAttributes(
      { Title: ['Staff'], Mail: ['a@example.test'], cn: ['A'] },
      { title: ['Lead'], CN: ['A'] },
      new AttributeSet([]),
    );
    expect(changes).toEqual([
      { attribute: 'Mail', before: ['a@example.test'], after: [] },
      { attribute: 'title', before: ['Staff'], after: ['Lead'] },
    ]);
  });

  it('treats duplicate values as a multiset', () => {
    expect(diffAttributes({ a: ['1', '1'] }, { a: ['1'] }, new AttributeSet([]))).toHaveLength(1);
  });

  it('keys members without a GUID by DN, case-insensitively', () => {
    expect(diffMembers([member(null, 'CN=X,DC=x')], [member(null, 'cn=x,dc=x')])).toEqual({
      added: [],
      removed: [],
    });
  });
});

describe('attributeValues', () => {
  const object = {
    guid: 'g',
    dn: 'CN=a,DC=x',
    class: 'user',
    usnChanged: 1n,
    attributes: JSON.parse('{"displayName":["Ann"],"managedBy":[{"dn":"CN=b,DC=x","guid":null}]}') as Record<
      string,
      SnapshotValue[]
    >,
  };

  it('finds an attribute as spelled or in any other case', () => {
    expect(attributeValues(object, 'displayName')).toEqual(['Ann']);
    expect(attributeValues(object, 'DISPLAYNAME')).toEqual(['Ann']);
    expect(attributeValues(object, 'managedby')).toEqual([{ dn: 'CN=b,DC=x', guid: null }]);
    expect(attributeValues(object, 'mail')).toBeUndefined();
  });

  it('never answers with what Object.prototype holds (an attribute name comes from the config)', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(attributeValues(object, name)).toBeUndefined();
    }
  });
});
