/**
 * Alerts about adnotify's own health (alerts: in the config): one alert to smtp.to/smtp.cc
 * when no poll has succeeded for alerts.noSuccessFor, or when messages end as failed, and one
 * notice when it recovers; never one per cycle. What was alerted is kept in the state, so a
 * restart neither repeats nor forgets it.
 */
import type { Config } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import type { Logger } from '../log/logger.js';
import { newMessageId } from '../mail/messageId.js';
import type { SqliteStore } from '../store/sqlite.js';

interface AlertState {
  stale: boolean;
  failed: boolean;
}

export interface HealthInput {
  now: Date;
  /** When a poll last succeeded (this run or an earlier one); null if never. */
  lastSuccess: Date | null;
  /** When this daemon started (a fresh state has no success yet). */
  startedAt: Date;
  lastError: string | null;
}

export function checkHealth(config: Config, store: SqliteStore, input: HealthInput, log: Logger): void {
  const recipients = { to: [...config.smtp.to], cc: [...config.smtp.cc] };
  if (recipients.to.length + recipients.cc.length === 0) return;
  const state = JSON.parse(store.getMeta('alerts') ?? '{"stale":false,"failed":false}') as AlertState;
  const next: AlertState = { ...state };
  const at = input.now.toISOString();
  const notes: { subject: string; text: string }[] = [];

  const limit =
    config.alerts.noSuccessFor === null ? null : (parseDuration(config.alerts.noSuccessFor) ?? null);
  if (limit !== null) {
    const since = input.lastSuccess ?? input.startedAt;
    const stale = input.now.getTime() - since.getTime() > limit;
    if (stale && !state.stale) {
      notes.push({
        subject: `[adnotify] no successful poll for ${config.alerts.noSuccessFor}`,
        text: `adnotify has not completed a poll of the directory since ${input.lastSuccess?.toISOString() ?? 'it started'}.\nLast error: ${input.lastError ?? 'none recorded'}\n\nChanges are not lost: they are picked up when polls succeed again.\nSee "adnotify status" and the service log.`,
      });
      next.stale = true;
    } else if (!stale && state.stale) {
      notes.push({
        subject: '[adnotify] polls succeed again',
        text: `adnotify completed a poll at ${input.lastSuccess?.toISOString() ?? at}; changes made meanwhile are being reported.`,
      });
      next.stale = false;
    }
  }
  if (config.alerts.failedMessages) {
    const failed = store.outboxCounts().failed;
    if (failed > 0 && !state.failed) {
      notes.push({
        subject: `[adnotify] ${failed} message${failed === 1 ? '' : 's'} could not be delivered`,
        text: `${failed} notification${failed === 1 ? '' : 's'} ended as failed.\nSee them with: adnotify outbox list --status failed\nSend them again with: adnotify outbox retry --all`,
      });
      next.failed = true;
    } else if (failed === 0 && state.failed) {
      notes.push({
        subject: '[adnotify] no failed messages left',
        text: 'Every failed notification has been sent or cleared.',
      });
      next.failed = false;
    }
  }
  if (notes.length === 0) return;
  for (const note of notes) {
    log.warn('health alert', { subject: note.subject });
    store.outbox.add({
      cycleId: null,
      createdAt: at,
      status: 'pending',
      kind: 'health',
      objectGuid: null,
      messageId: newMessageId(config.smtp.from),
      envelope: { from: config.smtp.from, ...recipients },
      subject: note.subject,
      text: `${note.text}\n`,
      html: `<pre>${note.text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c] ?? c)}</pre>`,
    });
  }
  store.setMeta('alerts', JSON.stringify(next));
}
