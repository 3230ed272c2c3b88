/**
 * Alerts about adnotify's own health (alerts: in the config): one alert to smtp.to/smtp.cc
 * when no poll has succeeded for alerts.noSuccessFor, or when messages end as failed, and one
 * notice when it recovers; never one per cycle. What was alerted is kept in the state, so a
 * restart neither repeats nor forgets it.
 */
import type { Config } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import type { Logger } from '../log/logger.js';
import type { Renderer } from '../mail/render.js';
import { enqueue } from '../notify/enqueue.js';
import type { StateStore } from '../store/ports.js';

interface AlertState {
  stale: boolean;
  failed: boolean;
  /** Lifecycle schedules failed for good were alerted (absent in states written before). */
  schedules?: boolean;
}

export interface HealthInput {
  now: Date;
  /** When a poll last succeeded (this run or an earlier one); null if never. */
  lastSuccess: Date | null;
  /** When this daemon started (a fresh state has no success yet). */
  startedAt: Date;
  lastError: string | null;
}

/** The `health` template's view: which alert, and the facts it quotes. */
type AlertView =
  | { alert: 'stale'; noSuccessFor: string; since: string; lastError: string | null }
  | { alert: 'recovered'; lastSuccess: string }
  | { alert: 'failed'; failed: number }
  | { alert: 'failed-cleared' }
  | { alert: 'schedules-failed'; schedules: number }
  | { alert: 'schedules-cleared' };

export async function checkHealth(
  deps: {
    config: Config;
    store: Pick<StateStore, 'cycles' | 'outbox' | 'schedules'>;
    renderer: Renderer;
    log: Logger;
  },
  input: HealthInput,
): Promise<void> {
  const { config, store, log } = deps;
  const recipients = { to: [...config.smtp.to], cc: [...config.smtp.cc] };
  if (recipients.to.length + recipients.cc.length === 0) return;
  const recorded = await store.cycles.getMeta('alerts');
  const state = JSON.parse(recorded ?? '{"stale":false,"failed":false}') as AlertState;
  const next: AlertState = { ...state };
  const at = input.now.toISOString();
  const alerts: AlertView[] = [];

  const limit =
    config.alerts.noSuccessFor === null ? null : (parseDuration(config.alerts.noSuccessFor) ?? null);
  if (limit !== null) {
    const since = input.lastSuccess ?? input.startedAt;
    const stale = input.now.getTime() - since.getTime() > limit;
    if (stale && !state.stale) {
      alerts.push({
        alert: 'stale',
        noSuccessFor: config.alerts.noSuccessFor ?? '',
        since: input.lastSuccess?.toISOString() ?? 'it started',
        lastError: input.lastError,
      });
      next.stale = true;
    } else if (!stale && state.stale) {
      alerts.push({ alert: 'recovered', lastSuccess: input.lastSuccess?.toISOString() ?? at });
      next.stale = false;
    }
  }
  if (config.alerts.failedMessages) {
    const { failed } = await store.outbox.counts();
    if (failed > 0 && !state.failed) {
      alerts.push({ alert: 'failed', failed });
      next.failed = true;
    } else if (failed === 0 && state.failed) {
      alerts.push({ alert: 'failed-cleared' });
      next.failed = false;
    }
  }
  // A lifecycle step that failed for good (the group deleted, a bad schedule) may have left a
  // temporary change in the directory: a person has to look, whatever the alerts: options.
  const given = (await store.schedules.counts())['failed-final'];
  if (given > 0 && state.schedules !== true) {
    alerts.push({ alert: 'schedules-failed', schedules: given });
    next.schedules = true;
  } else if (given === 0 && state.schedules === true) {
    alerts.push({ alert: 'schedules-cleared' });
    next.schedules = false;
  }
  if (alerts.length === 0) return;
  for (const view of alerts) {
    const rendered = deps.renderer.render('health', view);
    log.warn('health alert', { subject: rendered.subject });
    await enqueue(
      store.outbox,
      config.smtp.from,
      { cycleId: null, createdAt: at, kind: 'health', objectGuid: null, ...recipients },
      rendered,
    );
  }
  await store.cycles.setMeta('alerts', JSON.stringify(next));
}
