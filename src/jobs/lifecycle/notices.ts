/**
 * What a lifecycle step tells, and whom: the event recorded with the run, and one notice per
 * mailbox (the person concerned as "you", the owners or the manager about them), plus the
 * administrators' copy. The wording is the `lifecycle` template's.
 */
import type { LifecycleEvent, LifecycleType } from '../../core/events.js';
import { whoIsTold, type Step } from '../../core/lifecycle.js';
import { utcText } from '../../core/time.js';
import { textOf, type DirectoryEntry, type DnValue } from '../../core/types.js';
import type { Deps } from '../../deps.js';
import type { Recipient } from '../../core/notify.js';
import { isProtectedEntry } from '../../core/protected.js';
import { objectChangeView, oneLine, rdnValue, showValue, type RenderedMessage } from '../../mail/render.js';
import { queueObjectItems, queueSiemRecords } from '../../notify/channels.js';
import { enqueue } from '../../notify/enqueue.js';
import { People } from '../../notify/people.js';
import type { Schedule } from '../../store/ports.js';

function dnAll(entry: DirectoryEntry, name: string): { guid: string | null; dn: string }[] {
  const values = [...entry.attributes].find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1] ?? [];
  return values.filter((v): v is DnValue => typeof v !== 'string' && !(v instanceof Uint8Array));
}

/** The date shown with an event: when it ends (additions, joins) or when it will happen (soon). */
function untilFor(s: Schedule, step: Step): string {
  if (step === 'warn') return s.kind === 'removal' ? s.startAt : s.endAt;
  if (step === 'start') return s.endAt;
  return '';
}

/** Records a step's lifecycle event and queues its notices. */
export async function record(
  deps: Deps,
  base: string,
  s: Schedule,
  step: Step,
  event: LifecycleType,
  target: DirectoryEntry,
  subject: DirectoryEntry | null,
  cycleId: number,
  now: Date,
  reason?: string,
): Promise<void> {
  const { config, store } = deps;
  const at = now.toISOString();
  const subjectDn = subject?.dn ?? s.subjectDn;
  const until = untilFor(s, step);
  const lifecycleEvent: LifecycleEvent = {
    type: event,
    object: { guid: target.guid, dn: target.dn, class: target.objectClass.at(-1) ?? 'top' },
    subject: { guid: s.subjectGuid, dn: subjectDn, class: subject?.objectClass.at(-1) ?? null },
    schedule: s.id,
    ...(until ? { until } : {}),
    ...(reason ? { reason } : {}),
  };
  const eventId = await store.events.add(cycleId, at, lifecycleEvent);

  // Lifecycle notices look people up in the directory (the snapshot may be a poll behind);
  // groups are told through their members, one level down.
  const people = new People({ directory: deps.directory, base, log: deps.log, nested: false });
  people.remember(target);
  if (subject) people.remember(subject);
  const told = whoIsTold(event, config.lifecycle);
  const recipients: { to: Recipient; toSubject: boolean }[] = [];
  if (told.subject && subject) {
    const subjectIsGroup = subject.objectClass.some((c) => c.toLowerCase() === 'group');
    // A group as a temporary owner or manager: all its members are told.
    const groupByMembers = s.kind === 'owner' || s.kind === 'manager';
    for (const to of await people.mailboxes(subject, groupByMembers ? 'always' : 'without-mail')) {
      recipients.push({ to, toSubject: !(subjectIsGroup && groupByMembers) });
    }
  }
  if (told.primary) {
    // The primary owner or manager; for a member not put back, every owner of the group.
    const attributes =
      event === 'lifecycle.not-rejoined'
        ? ['managedBy', config.directory.additionalOwnersAttribute]
        : [s.kind === 'owner' ? 'managedBy' : 'manager'];
    for (const party of attributes.flatMap((a) => dnAll(target, a)).filter((v) => v.guid !== null)) {
      for (const to of await people.mailboxes(party, 'always')) recipients.push({ to, toSubject: false });
    }
  }

  const view = {
    event,
    kind: s.kind,
    subject: showValue((subject && textOf(subject, 'displayName')) ?? rdnValue(subjectDn)),
    target: showValue(textOf(target, 'displayName') ?? rdnValue(target.dn)),
    until: until ? utcText(until, 'minutes') : '',
    reason: reason ?? '',
    targetDn: showValue(target.dn),
    subjectDn: showValue(subjectDn),
    schedule: s.id,
    from: utcText(s.startAt, 'minutes'),
    to: utcText(s.endAt, 'minutes'),
    when: utcText(at, 'minutes'),
    createdBy: s.createdBy === null ? '' : showValue(s.createdBy),
  };
  const queue = (
    kind: string,
    to: readonly string[],
    cc: readonly string[],
    rendered: RenderedMessage,
    protectedGroup = false,
  ) =>
    enqueue(
      store.outbox,
      config.smtp.from,
      { cycleId, createdAt: at, kind, objectGuid: target.guid, to, cc, protectedGroup },
      rendered,
    );
  const seen = new Set<string>();
  for (const r of recipients) {
    const key = r.to.address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const recipientName = r.to.name === null ? null : showValue(r.to.name);
    await queue(
      'lifecycle',
      [r.to.address],
      [],
      deps.renderer.render('lifecycle', { ...view, you: r.toSubject, recipientName }),
    );
  }
  // The administrators hear of a member not put back even when the group has no owner, and of
  // every step on a protected group (or account), like a change made by hand: never held.
  const protectedTarget =
    config.notify.protectedGroups && isProtectedEntry(target, config.notify.protectedGroupsExtra);
  // The chat channels, webhooks and SIEM sinks hear of it as of any change.
  const recorded = [{ id: eventId, cycle: cycleId, at, event: lifecycleEvent }];
  await queueObjectItems(store.outbox, config, {
    cycleId,
    createdAt: at,
    guid: target.guid,
    events: recorded,
    isProtected: protectedTarget,
    view: (events) => ({
      ...objectChangeView({
        object: lifecycleEvent.object,
        displayName: textOf(target, 'displayName'),
        events,
        when: now,
        protectedGroup: protectedTarget,
      }),
      notes: [
        oneLine(deps.renderer.render('lifecycle', { ...view, you: false, recipientName: null }).subject),
      ],
    }),
  });
  await queueSiemRecords(store.outbox, config, recorded, () => protectedTarget);
  const always = event === 'lifecycle.not-rejoined' || protectedTarget;
  if ((seen.size > 0 || always) && config.smtp.to.length + config.smtp.cc.length > 0) {
    const rendered = deps.renderer.render('lifecycle', {
      ...view,
      you: false,
      admin: true,
      protectedGroup: protectedTarget,
      recipientName: null,
    });
    await queue('admin-copy', config.smtp.to, config.smtp.cc, rendered, protectedTarget);
  }
}
