/**
 * Rendering with the real templates: values escaped in HTML, one-line subjects, long values
 * and lists summarised, overrides from delivery.templatesDir.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { DirectoryEvent } from '../../src/core/events.js';
import { ConfigError } from '../../src/errors.js';
import { changeView, oneLine, Renderer, showValue, showValues } from '../../src/mail/render.js';
import { tempDir } from '../support/cli.js';

const group = { guid: 'g', dn: 'CN=Team <b>,OU=Groups,DC=x', class: 'group' };
const when = new Date('2026-11-25T08:15:02.118Z');

const view = (events: DirectoryEvent[], displayName: string | null = 'Team') =>
  changeView({ object: group, displayName, events, reasons: ['owner'], when, recipientName: 'Olga' });

describe('templates', () => {
  const renderer = Renderer.load(null);

  it('shows a <script> in a value as text in HTML, and never runs it', () => {
    const events: DirectoryEvent[] = [
      {
        type: 'object.modified',
        object: group,
        changes: [{ attribute: 'description', before: [], after: ['<script>alert(1)</script>'] }],
      },
    ];
    const message = renderer.render('change', view(events));
    expect(message.html).not.toContain('<script>');
    expect(message.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(message.text).toContain('description: (none) -> <script>alert(1)</script>');
    expect(message.html).toContain('CN&#x3D;Team &lt;b&gt;,OU&#x3D;Groups,DC&#x3D;x');
  });

  it('keeps CR/LF in a name out of the subject', () => {
    const message = renderer.render(
      'change',
      view([{ type: 'object.deleted', object: group }], 'Evil\r\nBcc: all@x'),
    );
    expect(message.subject).toBe('Deleted group Evil\\r\\nBcc: all@x');
    expect(message.subject).not.toMatch(/[\r\n]/);
    expect(oneLine('a\r\n\tb\u2028c')).toBe('a b c');
  });

  it('says what changed, for whom, when', () => {
    const events: DirectoryEvent[] = [
      { type: 'group.member.added', object: group, member: { guid: 'u', dn: 'CN=Uma,DC=x', class: 'user' } },
      {
        type: 'object.modified',
        object: group,
        changes: [
          { attribute: 'info', redacted: true },
          { attribute: 'jpegPhoto', binary: true, before: ['aa'], after: ['bb'] },
          { attribute: 'mail', before: ['a@x'], after: ['b@x'] },
        ],
      },
    ];
    const { subject, text } = renderer.render('change', view(events));
    expect(subject).toBe('Changes to group Team');
    expect(text).toContain('Hello Olga,');
    expect(text).toContain('You are told because you own this group.');
    expect(text).toContain('  info: (not shown) -> changed (not shown)');
    expect(text).toContain('  jpegPhoto: binary value -> binary value, changed');
    expect(text).toContain('  mail: a@x -> b@x');
    expect(text).toContain('  + Uma (CN=Uma,DC=x)');
    expect(text).toContain('When: 2026-11-25 08:15:02 UTC');
  });

  it('summarises huge values and long lists', () => {
    expect(showValue('x'.repeat(1_000_000))).toMatch(/^x{200}… \(1,000,000 characters\)$/);
    expect(showValues(Array.from({ length: 25 }, (_, i) => `v${i}`))).toMatch(/; and 15 more$/);
    const members: DirectoryEvent[] = Array.from({ length: 1_290 }, (_, i) => ({
      type: 'group.member.added',
      object: group,
      member: { guid: `m${i}`, dn: `CN=m${i},DC=x`, class: 'user' },
    }));
    const { text, html } = renderer.render('change', view(members));
    expect(text).toContain('and 1,240 more');
    expect(html).toContain('and 1,240 more');
    expect(text.match(/^ {2}\+ /gm)).toHaveLength(50);
  });

  it('the membership message tells the member which group', () => {
    const message = renderer.render(
      'membership',
      changeView({ object: group, displayName: 'Team', events: [], reasons: ['removed'], when }),
    );
    expect(message.subject).toBe('You were removed from Team');
    expect(message.text).toContain('You were removed from the group Team.');
  });

  it('takes overrides from delivery.templatesDir and names a broken one', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'change.subject.hbs'), 'Heads up: {{object.name}}');
    expect(Renderer.load(dir).render('change', view([])).subject).toBe('Heads up: Team');
    writeFileSync(join(dir, 'change.html.hbs'), '{{#if}}broken');
    expect(() => Renderer.load(dir)).toThrow(ConfigError);
  });

  it('all wording is overridable: the reasons, lifecycle notices and health alerts too', () => {
    const builtin = Renderer.load(null);
    expect(builtin.render('change', view([])).text).toContain('You are told because you own this group.');
    const lifecycle = { event: 'lifecycle.joined', you: true, subject: 'Ann', target: 'Team', until: '' };
    expect(builtin.render('lifecycle', lifecycle).subject).toBe('You joined Team');
    expect(builtin.render('lifecycle', { ...lifecycle, you: false, admin: true }).subject).toBe(
      '[adnotify] Ann joined Team',
    );
    expect(builtin.render('health', { alert: 'failed', failed: 1 }).subject).toBe(
      '[adnotify] 1 message could not be delivered',
    );

    const dir = tempDir();
    writeFileSync(join(dir, 'reasons.partial.hbs'), '{{#each reasons}}[{{this}}]{{/each}}');
    writeFileSync(join(dir, 'lifecycle.subject.hbs'), 'Willkommen in {{target}}');
    writeFileSync(join(dir, 'health.subject.hbs'), 'adnotify: {{alert}}');
    const custom = Renderer.load(dir);
    expect(custom.render('change', view([])).text).toContain('You are told because [owner].');
    expect(custom.render('lifecycle', lifecycle).subject).toBe('Willkommen in Team');
    expect(custom.render('health', { alert: 'stale' }).subject).toBe('adnotify: stale');
  });
});

describe('invisible characters', () => {
  it('shows bidi overrides, isolates, marks and zero-width spaces as escapes; keeps ZWNJ and ZWJ', () => {
    expect(showValue('evil\u202eexe.txt')).toBe('evil\\u202eexe.txt');
    expect(showValue('ad\u200bmin\ufeff')).toBe('ad\\u200bmin\\ufeff');
    expect(showValue('a\u2066b\u2069c\u200fd\u061c')).toBe('a\\u2066b\\u2069c\\u200fd\\u061c');
    expect(showValue('می\u200cخواهم 👩\u200d💻')).toBe('می\u200cخواهم 👩\u200d💻');
  });
});

describe('a mass change', () => {
  it('names only the members a message shows, and counts the rest', () => {
    const events: DirectoryEvent[] = Array.from({ length: 5_000 }, (_, i) => ({
      type: 'group.member.added',
      object: group,
      member: { guid: `m-${i}`, dn: `CN=M${i},DC=x`, class: 'user' },
    }));
    let looked = 0;
    const view = changeView({
      object: group,
      displayName: 'Team',
      events,
      reasons: ['owner'],
      when,
      nameOf: (_guid, dn) => {
        looked++;
        return dn;
      },
    });
    expect(view.added).toHaveLength(50);
    expect(view.addedMore).toBe('4,950');
    // Before: every message about the group looked up all 5,000 names (quadratic in a mass change).
    expect(looked).toBe(50);
  });
});
