/**
 * From a cycle's events to rendered messages in the outbox, inside the cycle's transaction.
 * The rules are the core's (intentsFor, planMessages); this module gathers the facts they
 * need from the snapshot (owners, managers, members), asks the directory only what the
 * snapshot cannot say (objects outside the watched scope, whether a group is public), turns
 * people into mailboxes (mail-enabled, not disabled; a group without mail by its members),
 * and renders each message.
 */
import { namingContextOf } from '../core/dn.js';
import type { ObjectRef } from '../core/events.js';
import {
  byObject,
  concernsProtectedGroup,
  intentsFor,
  planMessages,
  type ObjectFacts,
  type PlannedMessage,
  type Recipient,
  type Intent,
  type ResolvedIntent,
} from '../core/notify.js';
import type { Deps } from '../deps.js';
import { attributeDisplayNames } from '../directory/displayNames.js';
import { changeView, objectChangeView, showValue, type ObjectChangeView } from '../mail/render.js';
import { objectChunks } from '../store/cycleChunks.js';
import { queueObjectItems, queueSiemRecords, type RecordedEvent } from './channels.js';
import { goesToDigest, queueDigestItem } from './digest.js';
import { enqueue } from './enqueue.js';
import { ChunkSnapshot } from './chunkSnapshot.js';
import { factsFor, findPublicGroups, type CycleObjects } from './facts.js';
import { People, type GroupExpansion } from './people.js';

export type NotifyDeps = Pick<Deps, 'config' | 'store' | 'directory' | 'renderer' | 'log'>;

export interface CycleOutcome extends CycleObjects {
  /** The cycle whose recorded events are notified (read back from the store a chunk at a time). */
  cycleId: number;
  when: Date;
  namingContexts: readonly string[];
}

export interface QueueSummary {
  messages: number;
  held: boolean;
}

export async function queueNotifications(deps: NotifyDeps, cycle: CycleOutcome): Promise<QueueSummary> {
  const { config, store, log } = deps;
  const createdAt = cycle.when.toISOString();
  let total = 0;
  let items = 0;
  let digestItems = 0;
  const protectedGroups: ObjectRef[] = [];
  for await (const chunk of objectChunks(store.events, cycle.cycleId)) {
    const recorded = (await store.events.recordedOfCycle(cycle.cycleId, chunk)).map((r) => ({
      ...r,
      cycle: cycle.cycleId,
    }));
    const queued = await queueChunk(deps, cycle, recorded);
    total += queued.messages;
    items += queued.items;
    digestItems += queued.digestItems;
    protectedGroups.push(...queued.protectedGroups);
  }
  if (protectedGroups.length > 0) {
    log.warn('protected groups changed', { groups: protectedGroups.map((g) => g.dn) });
  }
  items += await queueSiem(deps, cycle.cycleId, new Set(protectedGroups.map((g) => g.guid)));

  const held = total > config.delivery.maxMessagesPerCycle;
  if (held) {
    // Copies about protected groups are never held: a privileged change is told at once.
    const count = await store.outbox.holdCycle(cycle.cycleId);
    const admins = [...config.smtp.to, ...config.smtp.cc];
    log.error(
      'flood guard: this cycle would send more messages than delivery.maxMessagesPerCycle; all but the protected-group copies are held',
      {
        messages: total,
        held: count,
        limit: config.delivery.maxMessagesPerCycle,
        alerted: admins,
        protectedGroups: protectedGroups.map((g) => g.dn),
      },
    );
    if (admins.length > 0) {
      const rendered = deps.renderer.render('flood-alert', {
        total: total.toLocaleString('en-US'),
        count: count.toLocaleString('en-US'),
        limit: config.delivery.maxMessagesPerCycle.toLocaleString('en-US'),
        when: createdAt,
        protectedGroups: protectedGroups.map((g) => showValue(g.dn)),
      });
      await enqueue(
        store.outbox,
        config.smtp.from,
        {
          cycleId: cycle.cycleId,
          createdAt,
          kind: 'flood-alert',
          objectGuid: null,
          to: config.smtp.to,
          cc: config.smtp.cc,
        },
        rendered,
      );
    }
  }
  if (total + items + digestItems > 0) {
    log.info('notifications queued', { messages: total, channelItems: items, digestItems, held });
  }
  return { messages: total, held };
}

/** One SIEM record per event of the cycle and sink, in event order, a page at a time. */
async function queueSiem(
  deps: NotifyDeps,
  cycleId: number,
  protectedGuids: ReadonlySet<string>,
): Promise<number> {
  const { config, store } = deps;
  if (!config.siem?.syslog && !config.siem?.file) return 0;
  let count = 0;
  let after = 0;
  for (;;) {
    const page = await store.events.pageOfCycle(cycleId, after, SIEM_PAGE);
    if (page.length === 0) return count;
    count += await queueSiemRecords(
      store.outbox,
      config,
      page.map((r) => ({ ...r, cycle: cycleId })),
      (guid) => protectedGuids.has(guid),
    );
    after = page.at(-1)?.id ?? after;
  }
}

const SIEM_PAGE = 5_000;

/** Plans, renders and queues (as pending) the messages about one chunk of objects. */
async function queueChunk(
  deps: NotifyDeps,
  cycle: CycleOutcome,
  recorded: readonly RecordedEvent[],
): Promise<{ messages: number; items: number; digestItems: number; protectedGroups: ObjectRef[] }> {
  const { config, store } = deps;
  const grouped = byObject(recorded.map((r) => r.event));
  const base = namingContextOf(config.directory.baseDN, cycle.namingContexts);
  const attributeNames = await attributeDisplayNames(deps.directory, cycle.namingContexts, deps.log);
  // The chunk's objects in a few reads, besides those the applier kept in memory.
  const snapshot = new ChunkSnapshot(store.snapshot, cycle.written);
  await snapshot.prefetch(grouped.keys());
  const people = new People({
    directory: deps.directory,
    base,
    log: deps.log,
    nested: config.notify.expandNestedGroups,
    snapshot,
    departed: cycle.departed,
  });
  const publicGroups = await findPublicGroups(config, snapshot, deps.directory, base, cycle, grouped);

  const pending: { intent: Intent; expand: GroupExpansion }[] = [];
  const facts = new Map<string, ObjectFacts>();
  const protectedGroups: ObjectRef[] = [];
  for (const [guid, events] of grouped) {
    const f = await factsFor(config, snapshot, cycle, events, publicGroups.has(guid));
    if (!f) continue;
    facts.set(guid, f);
    if (config.notify.protectedGroups && concernsProtectedGroup(events, f)) protectedGroups.push(f.object);
    for (const intent of intentsFor(events, f, config.notify)) {
      // A group among a group's members is told through its mail only (its own members are
      // already listed when expandNestedGroups is on); a group told for another reason (an
      // owner, an added member) without mail is told through its members.
      pending.push({ intent, expand: intent.reasons.some((r) => r !== 'member') ? 'without-mail' : 'never' });
    }
  }
  // Everyone the chunk tells or names, read a batch at a time rather than one by one.
  await people.prefetch([
    ...recorded.flatMap(({ event }) =>
      'member' in event && event.member.guid !== null ? [event.member.guid] : [],
    ),
    ...pending.flatMap(({ intent }) => (intent.party.guid === null ? [] : [intent.party.guid])),
  ]);
  const intents: ResolvedIntent[] = [];
  for (const { intent, expand } of pending) {
    intents.push({ ...intent, recipients: await people.mailboxes(intent.party, expand) });
  }
  // The flood guard is the caller's, on the whole cycle: here every message is pending.
  const plan = planMessages(intents, config.smtp, Number.MAX_SAFE_INTEGER, protectedGroups);
  const createdAt = cycle.when.toISOString();
  const protectedGuids = new Set(protectedGroups.map((g) => g.guid));
  let items = 0;
  if (config.channels.length > 0) {
    for (const [guid, events] of byObject(recorded, (r) => r.event)) {
      const isProtected = protectedGuids.has(guid);
      const f = facts.get(guid);
      const object = f?.object ?? events[0]?.event.object;
      if (object === undefined) continue;
      items += await queueObjectItems(store.outbox, config, {
        cycleId: cycle.cycleId,
        createdAt,
        guid,
        events,
        isProtected,
        // A channel's post is about the events of the object it takes.
        view: (taken) => ({
          ...objectChangeView({
            object,
            displayName: f?.displayName ?? null,
            events: taken,
            when: cycle.when,
            nameOf: (g, dn) => people.nameOf(g, dn),
            protectedGroup: isProtected,
            attributeNames,
          }),
          notes: [],
        }),
      });
    }
  }
  let digestItems = 0;
  const told = toldByObject(plan.messages);
  // Messages come grouped by object: the object's part of the view is computed once.
  let common: { guid: string; view: ObjectChangeView } | undefined;
  for (const message of plan.messages) {
    const f = facts.get(message.object.guid);
    const events = grouped.get(message.object.guid) ?? [];
    if (common?.guid !== message.object.guid) {
      common = {
        guid: message.object.guid,
        view: objectChangeView({
          object: message.object,
          displayName: f?.displayName ?? null,
          events,
          when: cycle.when,
          nameOf: (guid, dn) => people.nameOf(guid, dn),
          protectedGroup: message.protectedGroup === true,
          attributeNames,
        }),
      };
    }
    const view = changeView(
      {
        object: message.object,
        displayName: f?.displayName ?? null,
        events,
        reasons: message.reasons,
        when: cycle.when,
        recipientName: message.kind === 'admin-copy' ? null : (message.to[0]?.name ?? null),
        told: message.kind === 'admin-copy' ? (told.get(message.object.guid) ?? []) : [],
      },
      { ...common.view, protectedGroup: message.protectedGroup === true },
    );
    if (
      goesToDigest(
        config.delivery.digest?.roles,
        // The reasons as the mail names them (an owner of a public group is told as its owner).
        { ...message, reasons: view.reasons },
        protectedGuids.has(message.object.guid),
      )
    ) {
      await queueDigestItem(store.outbox, config.smtp.from, {
        cycleId: cycle.cycleId,
        createdAt,
        objectGuid: message.object.guid,
        to: addresses(message.to),
        view,
      });
      digestItems++;
      continue;
    }
    const rendered = deps.renderer.render(message.kind, view);
    await enqueue(
      store.outbox,
      config.smtp.from,
      {
        cycleId: cycle.cycleId,
        createdAt,
        kind: message.kind,
        objectGuid: message.object.guid,
        to: addresses(message.to),
        cc: addresses(message.cc),
        ...(message.protectedGroup === true ? { protectedGroup: true } : {}),
      },
      rendered,
    );
  }
  return { messages: plan.messages.length - digestItems, items, digestItems, protectedGroups };
}

function addresses(list: readonly Recipient[]): string[] {
  return list.map((r) => r.address);
}

/** Who was told about each object (for its administrators' copy), in one pass. */
function toldByObject(messages: readonly PlannedMessage[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of messages) {
    if (m.kind === 'admin-copy') continue;
    const list = out.get(m.object.guid) ?? [];
    list.push(...m.to.map((r) => r.address));
    out.set(m.object.guid, list);
  }
  return out;
}
