/**
 * Digests (delivery.digest): a change for a recipient whose every reason is a digest role
 * waits in the outbox as a digest item (status digest) holding the same view its immediate
 * mail would have had. A digest run folds each recipient's items into one mail (HTML and
 * text, grouped by object, saying why) and marks the items sent in the same transaction, so
 * an item is never in two digests and none is lost to a crash: the run is done or not.
 */
import { utcText } from '../core/time.js';
import type { Deps } from '../deps.js';
import type { Reason } from '../core/notify.js';
import type { ObjectChangeView } from '../mail/render.js';
import type { Transport } from '../mail/port.js';
import type { OutboxMessage, OutboxStore } from '../store/ports.js';
import { newMessageId } from '../mail/messageId.js';
import { enqueue } from './enqueue.js';

export { goesToDigest } from '../core/digest.js';

/** A change view as a digest item keeps it: the object's view and the recipient's reasons. */
type ItemView = ObjectChangeView & { reasons: Reason[]; recipientName: string | null };

export async function queueDigestItem(
  outbox: OutboxStore,
  from: string,
  item: { cycleId: number; createdAt: string; objectGuid: string; to: readonly string[]; view: ItemView },
): Promise<number> {
  return outbox.add({
    cycleId: item.cycleId,
    createdAt: item.createdAt,
    status: 'digest',
    kind: 'digest-item',
    objectGuid: item.objectGuid,
    messageId: newMessageId(from),
    envelope: { from, to: [...item.to], cc: [] },
    subject: `${item.view.object.kindTitle} ${item.view.object.name}`,
    text: JSON.stringify(item.view),
    html: '',
  });
}

export interface DigestOutcome {
  /** One per recipient: the address, how many items and objects. */
  digests: { to: string; items: number; objects: number; outboxId: number | null }[];
}

/** The digests pending now: each recipient's items, grouped by object in the order they came. */
async function pendingDigests(outbox: OutboxStore): Promise<Map<string, OutboxMessage[]>> {
  const byRecipient = new Map<string, OutboxMessage[]>();
  for (const item of await outbox.list('digest')) {
    const to = item.envelope.to[0];
    if (to === undefined) continue;
    const list = byRecipient.get(to);
    if (list) list.push(item);
    else byRecipient.set(to, [item]);
  }
  return byRecipient;
}

function digestView(deps: Pick<Deps, 'renderer' | 'clock'>, items: readonly OutboxMessage[]) {
  const objects = new Map<string, { view: ItemView; reasons: Set<Reason>; entries: ItemView[] }>();
  let recipientName: string | null = null;
  for (const item of items) {
    const view = JSON.parse(item.text) as ItemView;
    recipientName ??= view.recipientName;
    const key = item.objectGuid ?? view.object.dn;
    const entry = objects.get(key) ?? { view, reasons: new Set<Reason>(), entries: [] };
    for (const r of view.reasons) entry.reasons.add(r);
    entry.entries.push(view);
    objects.set(key, entry);
  }
  return {
    recipientName,
    count: items.length,
    objectCount: objects.size,
    when: utcText(deps.clock.now()),
    objects: [...objects.values()].map((o) => ({
      object: o.view.object,
      reasonText: deps.renderer.reasonText([...o.reasons]),
      entries: o.entries,
    })),
  };
}

/**
 * Sends the pending digests: one mail per recipient into the outbox (delivered by the caller),
 * the items marked sent with it. With `dryRun`, each digest is written through `dryRun` (.eml)
 * and nothing changes. Nothing pending: nothing sent.
 */
export async function runDigest(
  deps: Pick<Deps, 'config' | 'store' | 'renderer' | 'clock' | 'log'>,
  options: { dryRun?: Transport } = {},
): Promise<DigestOutcome> {
  const { config, store, log } = deps;
  const pending = await pendingDigests(store.outbox);
  const outcome: DigestOutcome = { digests: [] };
  for (const [to, items] of pending) {
    const view = digestView(deps, items);
    const rendered = deps.renderer.render('digest', view);
    if (options.dryRun !== undefined) {
      await options.dryRun.send({
        envelope: { from: config.smtp.from, to: [to], cc: [] },
        messageId: newMessageId(config.smtp.from),
        createdAt: deps.clock.now().toISOString(),
        ...rendered,
      });
      outcome.digests.push({ to, items: items.length, objects: view.objectCount, outboxId: null });
      continue;
    }
    const outboxId = await store
      .transaction(async () => {
        const now = deps.clock.now().toISOString();
        const id = await enqueue(
          store.outbox,
          config.smtp.from,
          { cycleId: null, createdAt: now, kind: 'digest', objectGuid: null, to: [to] },
          rendered,
        );
        const ids = items.map((i) => i.id);
        // Another run (a second process) took some of them since they were read: this one sends nothing.
        if ((await store.outbox.markDigested(ids, now)) !== ids.length) throw new DigestRaceError(to);
        return id;
      })
      .catch((err: unknown) => {
        if (err instanceof DigestRaceError) {
          log.warn('digest skipped: another digest run took these items', { to });
          return null;
        }
        throw err;
      });
    outcome.digests.push({ to, items: items.length, objects: view.objectCount, outboxId });
  }
  if (outcome.digests.length > 0) {
    log.info('digests queued', {
      digests: outcome.digests.filter((d) => d.outboxId !== null).length,
      items: outcome.digests.reduce((n, d) => n + d.items, 0),
      dryRun: options.dryRun !== undefined,
    });
  }
  return outcome;
}

class DigestRaceError extends Error {
  constructor(to: string) {
    super(`digest items for ${to} were taken by another run`);
  }
}
