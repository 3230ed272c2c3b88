/**
 * Who is told, on plain objects: each seed option on and off, and how intents become
 * messages (one per mailbox per object, administrators' copy, flood guard).
 */
import { describe, expect, it } from 'vitest';

import type { DirectoryEvent } from '../../src/core/events.js';
import {
  concernsProtectedGroup,
  intentsFor,
  planMessages,
  type Intent,
  type NotifyOptions,
  type ObjectFacts,
  type Reason,
  type ResolvedIntent,
} from '../../src/core/notify.js';

const ALL_OFF: NotifyOptions = {
  loggedInUser: false,
  ownerManager: false,
  objectModified: false,
  publicGroupOwnerOnMembershipChange: false,
  newMemberOnAdd: false,
  removedMemberOnRemoval: false,
};
const on = (...keys: (keyof NotifyOptions)[]): NotifyOptions => ({
  ...ALL_OFF,
  ...Object.fromEntries(keys.map((k) => [k, true])),
});

const party = (name: string) => ({ guid: `guid-${name}`, dn: `CN=${name},DC=x` });
const user = { guid: 'guid-alice', dn: 'CN=alice,DC=x', class: 'user' };
const group = { guid: 'guid-team', dn: 'CN=team,DC=x', class: 'group' };

const userFacts: ObjectFacts = {
  object: user,
  displayName: 'Alice',
  owners: [],
  managers: [party('boss'), party('deputy')],
  members: [],
  isPublic: false,
  isProtected: false,
};
const groupFacts = (isPublic = false): ObjectFacts => ({
  object: group,
  displayName: 'Team',
  owners: [party('owner'), party('coowner')],
  managers: [],
  members: [party('m1'), party('m2'), party('owner')],
  isPublic,
  isProtected: false,
});

const modified = (object = user, actor?: string): DirectoryEvent => ({
  type: 'object.modified',
  object,
  changes: [{ attribute: 'title', before: ['A'], after: ['B'] }],
  ...(actor ? { actor: { sid: null, account: null, name: null, dn: actor } } : {}),
});
const added = (name: string): DirectoryEvent => ({
  type: 'group.member.added',
  object: group,
  member: { ...party(name), class: 'user' },
});
const removed = (name: string): DirectoryEvent => ({
  type: 'group.member.removed',
  object: group,
  member: { ...party(name), class: 'user' },
});

/** Intents as "dn: reasons" lines, sorted, for exact comparison. */
const told = (intents: Intent[]) =>
  intents.map((i) => `${i.party.dn}: ${[...i.reasons].sort().join(',')}`).sort();

interface Row {
  name: string;
  events: DirectoryEvent[];
  facts: ObjectFacts;
  notify: NotifyOptions;
  expected: string[];
}

const rows: Row[] = [
  { name: 'everything off: nobody', events: [modified()], facts: userFacts, notify: ALL_OFF, expected: [] },
  {
    name: 'objectModified: the modified user itself',
    events: [modified()],
    facts: userFacts,
    notify: on('objectModified'),
    expected: ['CN=alice,DC=x: self'],
  },
  {
    name: 'objectModified: a moved user counts as modified',
    events: [{ type: 'object.moved', object: user, from: 'CN=alice,OU=A,DC=x', to: 'CN=alice,DC=x' }],
    facts: userFacts,
    notify: on('objectModified'),
    expected: ['CN=alice,DC=x: self'],
  },
  {
    name: 'objectModified: a deleted user is never mailed',
    events: [{ type: 'object.deleted', object: user }],
    facts: userFacts,
    notify: on('objectModified'),
    expected: [],
  },
  {
    name: 'objectModified: a modified group tells its members',
    events: [modified(group)],
    facts: groupFacts(),
    notify: on('objectModified'),
    expected: ['CN=m1,DC=x: member', 'CN=m2,DC=x: member', 'CN=owner,DC=x: member'],
  },
  {
    name: 'objectModified: a membership change is a group modification',
    events: [added('m3')],
    facts: groupFacts(),
    notify: on('objectModified'),
    expected: ['CN=m1,DC=x: member', 'CN=m2,DC=x: member', 'CN=owner,DC=x: member'],
  },
  {
    name: 'ownerManager: the user’s manager and additional manager',
    events: [modified()],
    facts: userFacts,
    notify: on('ownerManager'),
    expected: ['CN=boss,DC=x: manager', 'CN=deputy,DC=x: manager'],
  },
  {
    name: 'ownerManager: the manager hears of a deletion',
    events: [{ type: 'object.deleted', object: user }],
    facts: userFacts,
    notify: on('ownerManager'),
    expected: ['CN=boss,DC=x: manager', 'CN=deputy,DC=x: manager'],
  },
  {
    name: 'ownerManager: group owners hear of attribute and membership changes',
    events: [modified(group), removed('m2')],
    facts: groupFacts(),
    notify: on('ownerManager'),
    expected: ['CN=coowner,DC=x: owner', 'CN=owner,DC=x: owner'],
  },
  {
    name: 'ownerManager: a user created is news to nobody',
    events: [{ type: 'object.created', object: user }],
    facts: userFacts,
    notify: on('ownerManager', 'objectModified'),
    expected: [],
  },
  {
    name: 'publicGroupOwnerOnMembershipChange: owners of a public group',
    events: [added('m3')],
    facts: groupFacts(true),
    notify: on('publicGroupOwnerOnMembershipChange'),
    expected: ['CN=coowner,DC=x: publicOwner', 'CN=owner,DC=x: publicOwner'],
  },
  {
    name: 'publicGroupOwnerOnMembershipChange: not for a group that is not public',
    events: [added('m3')],
    facts: groupFacts(false),
    notify: on('publicGroupOwnerOnMembershipChange'),
    expected: [],
  },
  {
    name: 'publicGroupOwnerOnMembershipChange: not for an attribute change',
    events: [modified(group)],
    facts: groupFacts(true),
    notify: on('publicGroupOwnerOnMembershipChange'),
    expected: [],
  },
  {
    name: 'newMemberOnAdd: the added member',
    events: [added('m3'), removed('m2')],
    facts: groupFacts(),
    notify: on('newMemberOnAdd'),
    expected: ['CN=m3,DC=x: added'],
  },
  {
    name: 'removedMemberOnRemoval: the removed member',
    events: [added('m3'), removed('m2')],
    facts: groupFacts(),
    notify: on('removedMemberOnRemoval'),
    expected: ['CN=m2,DC=x: removed'],
  },
  {
    name: 'loggedInUser: the actor, when the directory names one',
    events: [modified(user, 'CN=admin,DC=x')],
    facts: userFacts,
    notify: on('loggedInUser'),
    expected: ['CN=admin,DC=x: actor'],
  },
  {
    name: 'loggedInUser: the creator of an object is told, as for any other change',
    events: [
      {
        type: 'object.created',
        object: user,
        actor: { sid: null, account: null, name: null, dn: 'CN=admin,DC=x' },
      },
    ],
    facts: userFacts,
    notify: on('loggedInUser'),
    expected: ['CN=admin,DC=x: actor'],
  },
  {
    name: 'loggedInUser: nobody when no actor is known (Active Directory)',
    events: [modified(user)],
    facts: userFacts,
    notify: on('loggedInUser'),
    expected: [],
  },
  {
    name: 'a person holding several roles is told once, with every reason',
    events: [modified(group), added('owner')],
    facts: groupFacts(true),
    notify: on('objectModified', 'ownerManager', 'publicGroupOwnerOnMembershipChange', 'newMemberOnAdd'),
    expected: [
      'CN=coowner,DC=x: owner,publicOwner',
      'CN=m1,DC=x: member',
      'CN=m2,DC=x: member',
      'CN=owner,DC=x: added,member,owner,publicOwner',
    ],
  },
  {
    name: 'a membership change concerns the group and the member, not the member’s manager',
    events: [added('m3')],
    facts: groupFacts(),
    notify: on('ownerManager', 'newMemberOnAdd'),
    expected: ['CN=coowner,DC=x: owner', 'CN=m3,DC=x: added', 'CN=owner,DC=x: owner'],
  },
];

describe('intentsFor', () => {
  it.each(rows)('$name', ({ events, facts, notify, expected }) => {
    expect(told(intentsFor(events, facts, notify))).toEqual(expected);
  });
});

describe('planMessages', () => {
  const resolved = (dn: string, reasons: Reason[], address: string, object = group): ResolvedIntent => ({
    object,
    party: { guid: null, dn },
    reasons,
    recipients: [{ address, name: null }],
  });
  const admins = { to: ['helpdesk@x'], cc: ['audit@x'] };

  it('one message per mailbox per object, reasons merged, plus one administrators’ copy', () => {
    const plan = planMessages(
      [
        resolved('CN=a', ['owner'], 'a@x'),
        resolved('CN=a2', ['member'], 'A@x'), // the same mailbox through another person
        resolved('CN=b', ['added'], 'b@x'),
      ],
      admins,
      100,
    );
    expect(plan.held).toBe(false);
    expect(
      plan.messages.map((m) => [m.kind, m.to.map((r) => r.address), m.cc.map((r) => r.address), m.reasons]),
    ).toEqual([
      ['change', ['a@x'], [], ['owner', 'member']],
      ['membership', ['b@x'], [], ['added']],
      ['admin-copy', ['helpdesk@x'], ['audit@x'], ['owner', 'member', 'added']],
    ]);
  });

  it('no administrators’ copy for an object that notified nobody', () => {
    const nobody: ResolvedIntent = { ...resolved('CN=a', ['owner'], 'a@x'), recipients: [] };
    expect(planMessages([nobody], admins, 100).messages).toEqual([]);
  });

  it('a protected group: an administrators’ copy marked as such, even when nobody else is told', () => {
    const nobody: ResolvedIntent = { ...resolved('CN=a', ['owner'], 'a@x'), recipients: [] };
    const plan = planMessages([nobody], admins, 100, [group]);
    expect(plan.messages).toEqual([
      {
        kind: 'admin-copy',
        object: group,
        to: [{ address: 'helpdesk@x', name: null }],
        cc: [{ address: 'audit@x', name: null }],
        reasons: [],
        protectedGroup: true,
      },
    ]);
    // Told as well: still one administrators' copy, marked.
    const told = planMessages([resolved('CN=a', ['owner'], 'a@x')], admins, 100, [group]).messages;
    expect(told.map((m) => [m.kind, m.protectedGroup])).toEqual([
      ['change', undefined],
      ['admin-copy', true],
    ]);
    // Another object keeps today's rule.
    expect(planMessages([nobody], admins, 100, []).messages).toEqual([]);
  });

  it('concernsProtectedGroup: any change but creation of a protected group', () => {
    const facts = { ...groupFacts(), isProtected: true };
    expect(concernsProtectedGroup([added('x')], facts)).toBe(true);
    expect(concernsProtectedGroup([modified(group)], facts)).toBe(true);
    expect(concernsProtectedGroup([{ type: 'object.deleted', object: group }], facts)).toBe(true);
    expect(concernsProtectedGroup([{ type: 'object.created', object: group }], facts)).toBe(false);
    expect(concernsProtectedGroup([added('x')], groupFacts())).toBe(false);
    expect(concernsProtectedGroup([modified()], { ...userFacts, isProtected: true })).toBe(false);
  });

  it('holds everything above delivery.maxMessagesPerCycle', () => {
    const intents = ['a', 'b', 'c'].map((n) => resolved(`CN=${n}`, ['owner'], `${n}@x`));
    expect(planMessages(intents, admins, 4).held).toBe(false);
    expect(planMessages(intents, admins, 3).held).toBe(true);
  });
});
