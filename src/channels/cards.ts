/**
 * Chat posts about one object's changes in one cycle (the grouping of a mail): a Teams
 * Adaptive Card and a Slack Block Kit message, from the same view as the mail
 * (`objectChangeView`: values already shown as text, long ones cut, secrets never present).
 *
 * Values from the directory are text, never markup: in the card they go only into TextRun
 * inlines (which Adaptive Cards never read as Markdown), never into a TextBlock or a FactSet;
 * in Slack they go into plain_text objects with `&`, `<` and `>` escaped, so `<!channel>` or
 * `<@U123>` mentions nobody. Both stay within the services' limits (Teams 28 KB a card;
 * Slack 50 blocks, 3,000 characters a section, 150 a header): what does not fit is cut, and
 * the post says how much.
 */
import type { ObjectChangeView } from '../mail/render.js';

export interface CardView extends ObjectChangeView {
  /** Lines about lifecycle steps (they have no attribute changes): "Alice joined Staff until ...". */
  notes: string[];
}

/** One line of a post: a bold label (ours) and a value (the directory's). */
interface Line {
  label: string;
  value: string;
}

function title(view: CardView): string {
  const what = view.deleted ? 'Deleted' : view.created ? 'Created' : 'Changes to';
  return `${view.protectedGroup ? 'Protected group: ' : ''}${what} ${view.object.kind} ${view.object.name}`;
}

/** The lines of a post, in order; each change with before and after. */
function lines(view: CardView): Line[] {
  const out: Line[] = [{ label: 'Object', value: view.object.dn }];
  if (view.moved) {
    out.push({ label: 'Moved from', value: view.moved.from });
    out.push({ label: view.moved.leftScope ? 'To (no longer watched)' : 'To', value: view.moved.to });
  }
  for (const note of view.notes) out.push({ label: 'Step', value: note });
  for (const c of view.changes) out.push({ label: c.attribute, value: `${c.before} → ${c.after}` });
  if (view.changesMore) out.push({ label: 'And', value: `${view.changesMore} more attributes` });
  for (const m of view.added) out.push({ label: 'Member added', value: `${m.name} (${m.dn})` });
  if (view.addedMore) out.push({ label: 'And', value: `${view.addedMore} more members added` });
  for (const m of view.removed) out.push({ label: 'Member removed', value: `${m.name} (${m.dn})` });
  if (view.removedMore) out.push({ label: 'And', value: `${view.removedMore} more members removed` });
  return out;
}

function byLine(view: CardView): Line {
  return {
    label: 'By',
    value:
      view.actor ??
      (view.actorUnknown ? 'unknown (no audit record named who made this change)' : 'not recorded'),
  };
}

// ---------------------------------------------------------------------------------------------
// Teams: an Adaptive Card 1.4 in the message envelope a Workflows webhook takes.

/** Teams refuses a card over 28 KB; this leaves room for the envelope and the note. */
const TEAMS_MAX_BYTES = 27_000;

const run = (text: string, bold = false) => ({
  type: 'TextRun',
  text,
  ...(bold ? { weight: 'Bolder' } : {}),
});
const rich = (...inlines: object[]) => ({ type: 'RichTextBlock', inlines });

export function teamsPayload(view: CardView): string {
  const body: object[] = [];
  if (view.protectedGroup) {
    body.push({
      type: 'TextBlock',
      text: 'Protected group: its members hold administrative rights. Check that this change was intended.',
      color: 'Attention',
      weight: 'Bolder',
      wrap: true,
    });
  }
  const heading = view.deleted ? 'Deleted' : view.created ? 'Created' : 'Changes to';
  body.push(
    rich(
      { ...run(`${heading} ${view.object.kind} `, true), size: 'Large' },
      { ...run(view.object.name, true), size: 'Large' },
    ),
  );
  const card = (blocks: object[]) =>
    JSON.stringify({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: blocks,
            msteams: { width: 'Full' },
          },
        },
      ],
    });
  const tail = [
    rich(run('When: ', true), run(view.when)),
    rich(run(`${byLine(view).label}: `, true), run(byLine(view).value)),
  ];
  const all = lines(view);
  let shown = 0;
  for (const line of all) {
    const block = rich(run(`${line.label}: `, true), run(line.value));
    if (Buffer.byteLength(card([...body, block, ...tail])) > TEAMS_MAX_BYTES) break;
    body.push(block);
    shown++;
  }
  if (shown < all.length) {
    body.push({
      type: 'TextBlock',
      text: `${all.length - shown} more lines not shown: the card would exceed Teams' 28 KB limit. "adnotify history" has them all.`,
      isSubtle: true,
      wrap: true,
    });
  }
  return card([...body, ...tail]);
}

// ---------------------------------------------------------------------------------------------
// Slack: Block Kit for an incoming webhook.

const SLACK_MAX_BLOCKS = 50;
const SLACK_SECTION_CHARS = 3000;
const SLACK_HEADER_CHARS = 150;

/** `&`, `<` and `>` as Slack requires them escaped, cut to `max` characters after escaping. */
export function slackText(text: string, max = SLACK_SECTION_CHARS): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  if (escaped.length <= max) return escaped;
  let cut = escaped.slice(0, max - 1);
  // Never end inside an entity: "&am" would show as text.
  const amp = cut.lastIndexOf('&');
  if (amp >= 0 && !cut.slice(amp).includes(';')) cut = cut.slice(0, amp);
  return `${cut}…`;
}

const plain = (text: string, max = SLACK_SECTION_CHARS) => ({
  type: 'plain_text',
  text: slackText(text, max),
  emoji: false,
});

export function slackPayload(view: CardView): string {
  const head = title(view);
  const blocks: object[] = [{ type: 'header', text: plain(head, SLACK_HEADER_CHARS) }];
  if (view.protectedGroup) {
    blocks.push({
      type: 'section',
      text: plain(
        'Protected group: its members hold administrative rights. Check that this change was intended.',
      ),
    });
  }
  const by = byLine(view);
  const tail = [
    { type: 'context', elements: [plain(`When: ${view.when}`), plain(`${by.label}: ${by.value}`)] },
    { type: 'divider' },
  ];
  const all = lines(view);
  // Room for the tail and one note of what was cut.
  const room = SLACK_MAX_BLOCKS - blocks.length - tail.length - 1;
  const shown = all.slice(0, room);
  for (const line of shown) blocks.push({ type: 'section', text: plain(`${line.label}: ${line.value}`) });
  if (shown.length < all.length) {
    blocks.push({
      type: 'section',
      text: plain(
        `${all.length - shown.length} more lines not shown (Slack takes 50 blocks). "adnotify history" has them all.`,
      ),
    });
  }
  blocks.push(...tail);
  return JSON.stringify({ text: slackText(`${head} (${view.object.dn})`), blocks });
}
