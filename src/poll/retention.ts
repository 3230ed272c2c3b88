/**
 * state.retentionDays: once a day, after a successful poll (in `run` and in `once` from cron
 * alike), remove the events, sent messages and cycles older than the retention period.
 * Without it the tables grow for ever, and sent message bodies (personal data) are kept for
 * ever.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { StateStore } from '../store/ports.js';

const DAY_MS = 86_400_000;
const LAST_PRUNE = 'lastPrune';

export async function pruneDaily(
  config: Config,
  store: Pick<StateStore, 'cycles' | 'prune'>,
  now: Date,
  log: Logger,
): Promise<void> {
  const last = Date.parse((await store.cycles.getMeta(LAST_PRUNE)) ?? '');
  if (!Number.isNaN(last) && now.getTime() - last < DAY_MS) return;
  const before = new Date(now.getTime() - config.state.retentionDays * DAY_MS).toISOString();
  const removed = await store.prune(before);
  await store.cycles.setMeta(LAST_PRUNE, now.toISOString());
  if (removed.events + removed.messages + removed.cycles > 0) {
    log.info('pruned what is older than state.retentionDays', {
      retentionDays: config.state.retentionDays,
      before,
      ...removed,
    });
  }
}
