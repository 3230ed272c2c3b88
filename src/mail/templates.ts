/**
 * The built-in templates (Handlebars). Each notification kind has a subject, a text and an
 * HTML template; `delivery.templatesDir` may override any of them with a file named
 * `<kind>.<part>.hbs` (e.g. `change.html.hbs`). HTML templates escape every value; text and
 * subject templates do not (they are not HTML), and the subject is reduced to one line.
 * The view each template gets is `MessageView` in render.ts. The helper `eq` compares two
 * values: `{{#if (eq event "lifecycle.joined")}}`.
 */

export const TEMPLATE_KINDS = [
  'change',
  'membership',
  'admin-copy',
  'flood-alert',
  'test',
  'password-expiry',
  'lifecycle',
  'health',
  'digest',
] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];
export const TEMPLATE_PARTS = ['subject', 'text', 'html'] as const;
export type TemplatePart = (typeof TEMPLATE_PARTS)[number];

const STYLE =
  'font-family: Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px; color: #1f2328; line-height: 1.4';
const TABLE = 'border-collapse: collapse; margin: 8px 0';
const CELL = 'border: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top; text-align: left';

/** The account of what changed, shared by the change and administrators' messages. */
const CHANGE_TEXT = `{{#if deleted}}
The {{object.kind}} was deleted.
{{else if created}}
The {{object.kind}} was created.
{{/if}}
{{#if moved}}
Moved or renamed:
  from {{moved.from}}
  to   {{moved.to}}{{#if moved.leftScope}} (no longer watched){{/if}}
{{/if}}
{{#if changes.length}}
Changes:
{{#each changes}}
  {{attribute}}: {{before}} -> {{after}}
{{/each}}
{{#if changesMore}}
  and {{changesMore}} more attributes
{{/if}}
{{/if}}
{{#if added.length}}
Members added:
{{#each added}}
  + {{name}} ({{dn}})
{{/each}}
{{#if addedMore}}
  and {{addedMore}} more
{{/if}}
{{/if}}
{{#if removed.length}}
Members removed:
{{#each removed}}
  - {{name}} ({{dn}})
{{/each}}
{{#if removedMore}}
  and {{removedMore}} more
{{/if}}
{{/if}}
When: {{when}}
{{#if actor}}
By: {{actor}}
{{else if actorUnknown}}
By: unknown (no audit record named who made this change)
{{/if}}`;

const CHANGE_HTML = `{{#if deleted}}<p>The {{object.kind}} was <strong>deleted</strong>.</p>{{else if created}}<p>The {{object.kind}} was <strong>created</strong>.</p>{{/if}}
{{#if moved}}<p>Moved or renamed from <code>{{moved.from}}</code> to <code>{{moved.to}}</code>{{#if moved.leftScope}} (no longer watched){{/if}}.</p>{{/if}}
{{#if changes.length}}
<table style="${TABLE}">
<tr><th style="${CELL}">Attribute</th><th style="${CELL}">Before</th><th style="${CELL}">After</th></tr>
{{#each changes}}<tr><td style="${CELL}">{{attribute}}</td><td style="${CELL}">{{before}}</td><td style="${CELL}">{{after}}</td></tr>
{{/each}}
</table>
{{#if changesMore}}<p>and {{changesMore}} more attributes</p>{{/if}}
{{/if}}
{{#if added.length}}<p>Members added:</p><ul>{{#each added}}<li>{{name}} <small>({{dn}})</small></li>{{/each}}</ul>{{#if addedMore}}<p>and {{addedMore}} more</p>{{/if}}{{/if}}
{{#if removed.length}}<p>Members removed:</p><ul>{{#each removed}}<li>{{name}} <small>({{dn}})</small></li>{{/each}}</ul>{{#if removedMore}}<p>and {{removedMore}} more</p>{{/if}}{{/if}}
<p>When: {{when}}{{#if actor}}<br>By: {{actor}}{{else if actorUnknown}}<br>By: unknown (no audit record named who made this change){{/if}}</p>`;

const FOOTER_TEXT = `
--
Sent by adnotify, which watches the directory for changes.`;
const FOOTER_HTML = `<p style="color: #656d76; font-size: 12px">Sent by adnotify, which watches the directory for changes.</p>`;

/** Lifecycle notices: "You" to the person concerned, their name to anyone else. */
const WHO = '{{#if you}}You{{else}}{{subject}}{{/if}}';
const ARE = '{{#if you}}are{{else}}is{{/if}}';
const HAVE = '{{#if you}}have{{else}}has{{/if}}';
const LIFECYCLE_SUBJECT =
  '{{#if admin}}[adnotify] {{#if protectedGroup}}Protected group: {{/if}}{{/if}}' +
  `{{#if (eq event "lifecycle.joined")}}${WHO} joined {{target}}` +
  `{{else if (eq event "lifecycle.left")}}${WHO} left {{target}}` +
  `{{else if (eq event "lifecycle.leaving-soon")}}${WHO} will leave {{target}} on {{until}}` +
  `{{else if (eq event "lifecycle.owner-added")}}${WHO} ${ARE} now an additional owner of {{target}}` +
  `{{else if (eq event "lifecycle.owner-removed")}}${WHO} ${ARE} no longer an additional owner of {{target}}` +
  `{{else if (eq event "lifecycle.owner-removal-soon")}}${WHO} will stop being an additional owner of {{target}} on {{until}}` +
  `{{else if (eq event "lifecycle.manager-added")}}${WHO} ${ARE} now an additional manager of {{target}}` +
  `{{else if (eq event "lifecycle.manager-removed")}}${WHO} ${ARE} no longer an additional manager of {{target}}` +
  `{{else if (eq event "lifecycle.manager-removal-soon")}}${WHO} will stop being an additional manager of {{target}} on {{until}}` +
  '{{else if (eq event "lifecycle.not-rejoined")}}{{subject}} was not put back into {{target}}{{/if}}';
const UNTIL = '{{#if until}} until {{until}}{{/if}}';
const LIFECYCLE_SENTENCE =
  `{{#if (eq event "lifecycle.joined")}}${WHO} ${HAVE} been added to the group {{target}}${UNTIL}.` +
  `{{else if (eq event "lifecycle.left")}}${WHO} ${HAVE} been removed from the group {{target}}${UNTIL}.` +
  `{{else if (eq event "lifecycle.leaving-soon")}}${WHO} will be removed from the group {{target}} on {{until}}.` +
  `{{else if (eq event "lifecycle.owner-added")}}${WHO} ${ARE} now an additional owner of the group {{target}} until {{until}}.` +
  `{{else if (eq event "lifecycle.owner-removed")}}${WHO} ${ARE} no longer an additional owner of the group {{target}}.` +
  `{{else if (eq event "lifecycle.owner-removal-soon")}}${WHO} will stop being an additional owner of the group {{target}} on {{until}}.` +
  `{{else if (eq event "lifecycle.manager-added")}}${WHO} ${ARE} now an additional manager of {{target}} until {{until}}.` +
  `{{else if (eq event "lifecycle.manager-removed")}}${WHO} ${ARE} no longer an additional manager of {{target}}.` +
  `{{else if (eq event "lifecycle.manager-removal-soon")}}${WHO} will stop being an additional manager of {{target}} on {{until}}.` +
  '{{else if (eq event "lifecycle.not-rejoined")}}The temporary removal of {{subject}} from the group {{target}} has ended, but {{subject}} was not put back: {{reason}}. Add the account again if it should be a member.{{/if}}';
const LIFECYCLE_DETAILS = [
  '{{#if (eq kind "manager")}}User{{else}}Group{{/if}}: {{targetDn}}',
  '{{#if (eq kind "owner")}}Additional owner{{else if (eq kind "manager")}}Additional manager{{else}}Member{{/if}}: {{subjectDn}}',
  'Schedule #{{schedule}}: from {{from}} until {{to}}{{#if createdBy}}, scheduled by {{createdBy}}{{/if}}',
];
/** The administrators' copy of a step on a protected group or account. */
const LIFECYCLE_PROTECTED =
  'This is a protected object (adminCount=1 or notify.protectedGroupsExtra): this scheduled change grants or withdraws administrative rights. Check that it was intended.';

/** Health alerts: what went wrong (or right again), and what to do. */
const HEALTH_SUBJECT =
  '[adnotify] {{#if (eq alert "stale")}}no successful poll for {{noSuccessFor}}' +
  '{{else if (eq alert "recovered")}}polls succeed again' +
  '{{else if (eq alert "failed")}}{{failed}} message{{#unless (eq failed 1)}}s{{/unless}} could not be delivered' +
  '{{else if (eq alert "failed-cleared")}}no failed messages left' +
  '{{else if (eq alert "schedules-failed")}}{{schedules}} lifecycle schedule{{#unless (eq schedules 1)}}s{{/unless}} failed for good' +
  '{{else if (eq alert "schedules-cleared")}}no lifecycle schedule is left failed{{/if}}';
const HEALTH_TEXT = `{{#if (eq alert "stale")}}
adnotify has not completed a poll of the directory since {{since}}.
Last error: {{#if lastError}}{{lastError}}{{else}}none recorded{{/if}}

Changes are not lost: they are picked up when polls succeed again.
See "adnotify status" and the service log.
{{else if (eq alert "recovered")}}
adnotify completed a poll at {{lastSuccess}}; changes made meanwhile are being reported.
{{else if (eq alert "failed")}}
{{failed}} notification{{#unless (eq failed 1)}}s{{/unless}} ended as failed.
See them with: adnotify outbox list --status failed
Send them again with: adnotify outbox retry --all
{{else if (eq alert "failed-cleared")}}
Every failed notification has been sent or cleared.
{{else if (eq alert "schedules-failed")}}
{{schedules}} lifecycle schedule{{#unless (eq schedules 1)}}s{{/unless}} failed for good: a step could not be
applied and will not be retried, so a temporary change may be left in the directory.
See them with: adnotify temp list
Once you have checked the group (and undone the change by hand if needed):
adnotify temp cancel ID
{{else if (eq alert "schedules-cleared")}}
No lifecycle schedule is left failed.
{{/if}}`;

/**
 * Wording shared by several templates, rendered into the view before the templates run;
 * `<name>.partial.hbs` in delivery.templatesDir overrides one.
 * - `reasons` becomes `reasonText`: why the recipient is told, from the view's `reasons`
 *   (self, member, owner, manager, actor, publicOwner, added, removed), "a, b and c".
 */
export const BUILTIN_PARTIALS = {
  reasons:
    '{{#each reasons}}{{#unless @first}}{{#if @last}} and {{else}}, {{/if}}{{/unless}}' +
    '{{#if (eq this "self")}}this is about you' +
    '{{else if (eq this "member")}}you are a member of this group' +
    '{{else if (eq this "owner")}}you own this group' +
    `{{else if (eq this "manager")}}you are this person's manager` +
    '{{else if (eq this "actor")}}you made this change' +
    '{{else if (eq this "publicOwner")}}you own this public group and its membership changed' +
    '{{else if (eq this "added")}}you were added to this group' +
    '{{else if (eq this "removed")}}you were removed from this group{{/if}}{{/each}}',
} as const;
export type PartialName = keyof typeof BUILTIN_PARTIALS;

export const BUILTIN_TEMPLATES: Record<TemplateKind, Record<TemplatePart, string>> = {
  change: {
    subject:
      '{{#if deleted}}Deleted{{else if created}}Created{{else}}Changes to{{/if}} {{object.kind}} {{object.name}}',
    text: `Hello{{#if recipientName}} {{recipientName}}{{/if}},

{{object.kindTitle}} {{object.name}} ({{object.dn}}) changed.
You are told because {{reasonText}}.

${CHANGE_TEXT}
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>Hello{{#if recipientName}} {{recipientName}}{{/if}},</p>
<p>{{object.kindTitle}} <strong>{{object.name}}</strong> <small>({{object.dn}})</small> changed.<br>
You are told because {{reasonText}}.</p>
${CHANGE_HTML}
${FOOTER_HTML}
</div>
`,
  },
  membership: {
    subject: '{{#if addedTo}}You were added to{{else}}You were removed from{{/if}} {{object.name}}',
    text: `Hello{{#if recipientName}} {{recipientName}}{{/if}},

{{#if addedTo}}You were added to the group {{object.name}}.{{else}}You were removed from the group {{object.name}}.{{/if}}
Group: {{object.dn}}
{{#if memberName}}Member: {{memberName}}
{{/if}}
When: {{when}}
{{#if actor}}By: {{actor}}
{{else if actorUnknown}}By: unknown (no audit record named who made this change)
{{/if}}${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>Hello{{#if recipientName}} {{recipientName}}{{/if}},</p>
<p>{{#if addedTo}}You were <strong>added to</strong>{{else}}You were <strong>removed from</strong>{{/if}} the group <strong>{{object.name}}</strong> <small>({{object.dn}})</small>.</p>
{{#if memberName}}<p>Member: {{memberName}}</p>{{/if}}
<p>When: {{when}}{{#if actor}}<br>By: {{actor}}{{else if actorUnknown}}<br>By: unknown (no audit record named who made this change){{/if}}</p>
${FOOTER_HTML}
</div>
`,
  },
  'admin-copy': {
    subject:
      '[adnotify] {{#if protectedGroup}}Protected group: {{/if}}{{#if deleted}}Deleted{{else if created}}Created{{else}}Changes to{{/if}} {{object.kind}} {{object.name}}',
    text: `{{object.kindTitle}} {{object.name}} ({{object.dn}}) changed.
{{#if protectedGroup}}
This is a protected group (adminCount=1 or notify.protectedGroupsExtra): its members
hold administrative rights. Check that this change was intended.
{{/if}}

${CHANGE_TEXT}

Told: {{#if told}}{{told}}{{else}}nobody else{{/if}}
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>{{object.kindTitle}} <strong>{{object.name}}</strong> <small>({{object.dn}})</small> changed.</p>
{{#if protectedGroup}}<p><strong>This is a protected group</strong> (adminCount=1 or <code>notify.protectedGroupsExtra</code>): its members hold administrative rights. Check that this change was intended.</p>{{/if}}
${CHANGE_HTML}
<p>Told: {{#if told}}{{told}}{{else}}nobody else{{/if}}</p>
${FOOTER_HTML}
</div>
`,
  },
  'flood-alert': {
    subject: '[adnotify] {{count}} notifications held: release or discard them',
    text: `A poll cycle at {{when}} produced {{total}} notifications, more than
delivery.maxMessagesPerCycle ({{limit}}). {{count}} of them are held and none of those has been sent.
{{#if protectedGroups.length}}
Protected groups changed in this cycle (their administrators' copies were not held
and have already gone out; "outbox discard --held" does not touch them):
{{#each protectedGroups}}  - {{this}}
{{/each}}{{/if}}
This protects against a bulk change mailing a whole company by accident.
To send them:    adnotify outbox release   (one cycle's: --cycle N)
To drop them:    adnotify outbox discard --held
To review them:  adnotify outbox list --status held
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>A poll cycle at {{when}} produced <strong>{{total}}</strong> notifications, more than
<code>delivery.maxMessagesPerCycle</code> ({{limit}}). {{count}} of them are held and none of those has been sent.</p>
{{#if protectedGroups.length}}<p><strong>Protected groups changed in this cycle</strong> (their administrators' copies were not held and have already gone out; <code>outbox discard --held</code> does not touch them):</p>
<ul>{{#each protectedGroups}}<li>{{this}}</li>{{/each}}</ul>{{/if}}
<p>This protects against a bulk change mailing a whole company by accident.</p>
<p>To send them: <code>adnotify outbox release</code> (one cycle's: <code>--cycle N</code>)<br>
To drop them: <code>adnotify outbox discard --held</code><br>
To review them: <code>adnotify outbox list --status held</code></p>
${FOOTER_HTML}
</div>
`,
  },
  'password-expiry': {
    subject:
      '{{#if today}}Your password expires today{{else}}Your password expires in {{daysLeft}} days{{/if}}',
    text: `Hello {{name}},

Your password expires on {{expires}}{{#if today}}, today{{else}}, in {{daysLeft}} days{{/if}}.
{{#if portalUrl}}Change it now at {{portalUrl}}
{{/if}}
If you do not change it in time, you will not be able to sign in.
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>Hello {{name}},</p>
<p>Your password expires on <strong>{{expires}}</strong>{{#if today}}, today{{else}}, in {{daysLeft}} days{{/if}}.</p>
{{#if portalUrl}}<p><a href="{{portalUrl}}">Change it now</a> ({{portalUrl}})</p>{{/if}}
<p>If you do not change it in time, you will not be able to sign in.</p>
${FOOTER_HTML}
</div>
`,
  },
  lifecycle: {
    subject: LIFECYCLE_SUBJECT,
    text: `Hello{{#if recipientName}} {{recipientName}}{{/if}},

${LIFECYCLE_SENTENCE}{{#if protectedGroup}}

${LIFECYCLE_PROTECTED}
{{/if}}
${LIFECYCLE_DETAILS.join('\n')}
When: {{when}}
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>Hello{{#if recipientName}} {{recipientName}}{{/if}},</p>
<p>${LIFECYCLE_SENTENCE}</p>
{{#if protectedGroup}}<p><strong>${LIFECYCLE_PROTECTED}</strong></p>{{/if}}
<ul>${LIFECYCLE_DETAILS.map((line) => `<li>${line}</li>`).join('')}</ul>
<p>When: {{when}}</p>
${FOOTER_HTML}
</div>
`,
  },
  health: {
    subject: HEALTH_SUBJECT,
    text: HEALTH_TEXT,
    html: `<pre>${HEALTH_TEXT}</pre>`,
  },
  digest: {
    subject: 'Directory changes: {{objectCount}} object{{#unless (eq objectCount 1)}}s{{/unless}} changed',
    text: `Hello{{#if recipientName}} {{recipientName}}{{/if}},

This is your summary of directory changes ({{count}} change{{#unless (eq count 1)}}s{{/unless}} to {{objectCount}} object{{#unless (eq objectCount 1)}}s{{/unless}}), as of {{when}}.
{{#each objects}}

== {{object.kindTitle}} {{object.name}} ({{object.dn}})
You are told because {{reasonText}}.
{{#each entries}}

${CHANGE_TEXT}
{{/each}}
{{/each}}
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>Hello{{#if recipientName}} {{recipientName}}{{/if}},</p>
<p>This is your summary of directory changes ({{count}} change{{#unless (eq count 1)}}s{{/unless}} to {{objectCount}} object{{#unless (eq objectCount 1)}}s{{/unless}}), as of {{when}}.</p>
{{#each objects}}
<h3 style="font-size: 15px; margin: 16px 0 4px">{{object.kindTitle}} {{object.name}} <small style="font-weight: normal">({{object.dn}})</small></h3>
<p>You are told because {{reasonText}}.</p>
{{#each entries}}
${CHANGE_HTML}
{{/each}}
{{/each}}
${FOOTER_HTML}
</div>
`,
  },
  test: {
    subject: 'adnotify test message',
    text: `This is a test message from adnotify, sent at {{when}} through {{server}}.
If you can read it, notifications can reach this address.
${FOOTER_TEXT}
`,
    html: `<div style="${STYLE}">
<p>This is a test message from adnotify, sent at {{when}} through {{server}}.</p>
<p>If you can read it, notifications can reach this address.</p>
${FOOTER_HTML}
</div>
`,
  },
};
