/**
 * The channels' pure parts: which events a channel takes, who gets a digest, the chat posts
 * within their services' limits with values as text, and the syslog record.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { channelTransports } from '../../src/channels/transports.js';
import { slackPayload, slackText, teamsPayload, type CardView } from '../../src/channels/cards.js';
import { syslogRecord } from '../../src/channels/sinks.js';
import { eventsFor, globMatches } from '../../src/core/channels.js';
import { goesToDigest } from '../../src/core/digest.js';
import { objectChangeView } from '../../src/mail/render.js';
import { slackProblems, teamsProblems } from '../support/receivers.js';

const group = { guid: 'g1', dn: 'CN=Team,OU=Staff,DC=x,DC=test', class: 'group' };

function view(changes: number, valueChars = 20, members = 0): CardView {
  return {
    ...objectChangeView({
      object: group,
      displayName: 'Team',
      events: [
        {
          type: 'object.modified',
          object: group,
          changes: Array.from({ length: changes }, (_, i) => ({
            attribute: `extensionAttribute${i}`,
            before: ['x'.repeat(valueChars)],
            after: [`[link](http://evil.example/${i}) **b** <!channel> & ${'y'.repeat(valueChars)}`],
          })),
        },
        ...Array.from({ length: members }, (_, i) => ({
          type: 'group.member.added' as const,
          object: group,
          member: { guid: `m${i}`, dn: `CN=<@U${i}>,OU=Staff,DC=x,DC=test`, class: 'user' },
        })),
      ],
      when: new Date('2026-12-04T10:00:00Z'),
    }),
    notes: [],
  };
}

describe('which events a channel takes', () => {
  it('globs: "*" all, "group.member.*" both membership types, an exact type only itself', () => {
    expect(globMatches('*', 'object.modified')).toBe(true);
    expect(globMatches('group.member.*', 'group.member.removed')).toBe(true);
    expect(globMatches('group.member.*', 'group.members')).toBe(false);
    expect(globMatches('object.modified', 'object.modified')).toBe(true);
    expect(globMatches('object.mod', 'object.modified')).toBe(false);
    // A dot is a dot, not "any character".
    expect(globMatches('object.modified', 'objectXmodified')).toBe(false);
  });

  it('protectedOnly takes nothing about other objects', () => {
    const events = [{ type: 'object.modified' }, { type: 'group.member.added' }];
    expect(eventsFor({ events: ['group.member.*'], protectedOnly: false }, events, false)).toEqual([
      events[1],
    ]);
    expect(eventsFor({ events: ['*'], protectedOnly: true }, events, false)).toEqual([]);
    expect(eventsFor({ events: ['*'], protectedOnly: true }, events, true)).toEqual(events);
  });
});

describe('who gets a digest', () => {
  const roles = ['owner', 'member'] as const;
  it('a recipient whose every reason is a digest role; any other reason, an admin copy or a protected group stays immediate', () => {
    expect(goesToDigest([...roles], { kind: 'change', reasons: ['owner'] }, false)).toBe(true);
    expect(goesToDigest([...roles], { kind: 'change', reasons: ['owner', 'member'] }, false)).toBe(true);
    expect(goesToDigest([...roles], { kind: 'change', reasons: ['owner', 'self'] }, false)).toBe(false);
    expect(goesToDigest([...roles], { kind: 'change', reasons: ['self'] }, false)).toBe(false);
    expect(goesToDigest([...roles], { kind: 'admin-copy', reasons: [] }, false)).toBe(false);
    expect(goesToDigest([...roles], { kind: 'change', reasons: ['owner'] }, true)).toBe(false);
    expect(goesToDigest(undefined, { kind: 'change', reasons: ['owner'] }, false)).toBe(false);
  });
});

describe('Teams card', () => {
  it('is an Adaptive Card 1.4 in a message envelope, values only in TextRuns (never read as Markdown)', () => {
    const payload = JSON.parse(teamsPayload(view(2))) as { attachments: { content: { body: object[] } }[] };
    expect(teamsProblems(payload)).toEqual([]);
    const body = payload.attachments[0]!.content.body;
    const textBlocks = JSON.stringify(body.filter((b) => (b as { type: string }).type === 'TextBlock'));
    expect(textBlocks).not.toContain('evil');
    expect(JSON.stringify(body)).toContain('[link](http://evil.example/0) **b**');
  });

  it('stays under 28 KB: long lists are cut and the card says how many lines it left out', () => {
    const text = teamsPayload(view(400, 190, 200));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(28 * 1024);
    expect(teamsProblems(JSON.parse(text))).toEqual([]);
    expect(text).toMatch(/\d+ more lines not shown: the card would exceed Teams' 28 KB limit/);
  });
});

describe('Slack message', () => {
  it('escapes &, < and > in every string, so <!channel> and <@U1> mention nobody', () => {
    const text = slackPayload(view(2, 20, 2));
    expect(slackProblems(JSON.parse(text))).toEqual([]);
    expect(text).toContain('&lt;!channel&gt;');
    expect(text).toContain('CN=&lt;@U0&gt;');
    expect(text).not.toMatch(/<!channel>|<@U0>/);
  });

  it('keeps to 50 blocks, 3,000 characters a section and 150 a header, saying what it cut', () => {
    const text = slackPayload({ ...view(80, 2000), object: { ...view(1).object, name: 'N'.repeat(400) } });
    const payload = JSON.parse(text) as { blocks: { type: string; text?: { text: string } }[] };
    expect(slackProblems(payload)).toEqual([]);
    expect(payload.blocks).toHaveLength(50);
    expect(text).toMatch(/more lines not shown \(Slack takes 50 blocks\)/);
  });

  it('cuts after escaping, never inside an entity', () => {
    expect(slackText('&'.repeat(10), 12)).toBe('&amp;&amp;…');
    expect(slackText('<b>', 100)).toBe('&lt;b&gt;');
  });
});

describe('syslog record', () => {
  it('is RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG, the header in printable ASCII', () => {
    const letter = {
      envelope: { from: '', to: [], cc: [] },
      subject: '',
      text: '{"id":1}',
      html: '',
      messageId: 'evt_1',
      createdAt: '2026-12-04T10:00:00.000Z',
      kind: 'group.member.added',
    };
    expect(syslogRecord(letter, 'dc host', 42)).toBe(
      '<109>1 2026-12-04T10:00:00.000Z dc_host adnotify 42 group.member.added - {"id":1}',
    );
    expect(syslogRecord({ ...letter, protectedGroup: true }, 'h', 1)).toMatch(/^<108>1 /);
  });
});

describe('delivery.dryRun', () => {
  it('writes each channel item as a file beside the .eml files and sends nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adnotify-dry-'));
    const transports = channelTransports(
      {
        channels: [
          {
            name: 'chat',
            type: 'slack',
            url: 'https://hooks.slack.test/x',
            secret: null,
            events: ['*'],
            protectedOnly: false,
          },
        ],
        siem: { syslog: 'udp://127.0.0.1:9', caFile: null, file: null, fileMaxBytes: 1024, fileKeep: 1 },
        delivery: { dryRun: true } as never,
      },
      dir,
    );
    const letter = {
      envelope: { from: '', to: [], cc: [] },
      subject: '',
      html: '',
      messageId: 'm',
      createdAt: '',
      text: '{"a":1}',
    };
    await transports.get('chat')!.send({ ...letter, id: 7 });
    await transports.get('siem.syslog')!.send({ ...letter, id: 8 });
    expect(readFileSync(join(dir, 'chat', '000007.json'), 'utf8')).toBe('{"a":1}');
    expect(readFileSync(join(dir, 'siem.syslog', '000008.json'), 'utf8')).toBe('{"a":1}');
  });
});
