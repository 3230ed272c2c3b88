/**
 * The password-expiry job: reads every watched, mail-enabled user's
 * msDS-UserPasswordExpiryTimeComputed (it already honours fine-grained password policies and
 * "password never expires"), decides which reminders are due, and queues them in the outbox
 * with a record per threshold, in one transaction.
 */
import type { Config } from '../config/schema.js';
import { mailAddress } from '../core/address.js';
import type { Clock } from '../core/clock.js';
import {
  fromFiletime,
  reminderDue,
  UAC_ACCOUNTDISABLE,
  UAC_DONT_EXPIRE_PASSWORD,
  type Reminder,
} from '../core/passwordExpiry.js';
import { textOf } from '../core/types.js';
import type { DirectorySource } from '../directory/port.js';
import type { Logger } from '../log/logger.js';
import { newMessageId } from '../mail/messageId.js';
import { rdnValue, showValue, type Renderer } from '../mail/render.js';
import type { SqliteStore } from '../store/sqlite.js';

/** What a scheduled job needs (password expiry, lifecycle). */
export interface JobDeps {
  config: Config;
  directory: DirectorySource;
  store: SqliteStore;
  clock: Clock;
  renderer: Renderer;
  log: Logger;
}

export interface DueReminder extends Reminder {
  guid: string;
  dn: string;
  mail: string;
  name: string;
  expiresAt: Date;
}

const EXPIRY = 'msDS-UserPasswordExpiryTimeComputed';

/** Who is due a reminder now, and why. With `dryRun` nothing is recorded or queued. */
export async function passwordExpiryJob(deps: JobDeps, options: { dryRun: boolean }): Promise<DueReminder[]> {
  const { config, directory, store, clock, log } = deps;
  const now = clock.now();
  const thresholds = config.passwordExpiry.daysBefore;
  const due: DueReminder[] = [];
  const filter = `(&${config.directory.filter}(objectClass=user)(!(objectClass=computer))(mail=*))`;
  for await (const page of directory.search({ filter, attributes: [EXPIRY, 'pwdLastSet'] })) {
    for (const entry of page) {
      const uac = Number(textOf(entry, 'userAccountControl') ?? '0');
      // Disabled, "password never expires", or "must change at next logon" (pwdLastSet 0).
      if (
        (uac & (UAC_ACCOUNTDISABLE | UAC_DONT_EXPIRE_PASSWORD)) !== 0 ||
        textOf(entry, 'pwdLastSet') === '0'
      )
        continue;
      const expiresAt = fromFiletime(textOf(entry, EXPIRY) ?? '');
      const mail = mailAddress(textOf(entry, 'mail'));
      if (!expiresAt || mail === null) continue;
      const reminder = reminderDue(
        expiresAt,
        now,
        thresholds,
        store.remindersRecorded(entry.guid, expiresAt.toISOString()),
      );
      if (!reminder) continue;
      due.push({
        ...reminder,
        guid: entry.guid,
        dn: entry.dn,
        mail,
        name: textOf(entry, 'displayName') ?? rdnValue(entry.dn),
        expiresAt,
      });
    }
  }
  if (options.dryRun || due.length === 0) return due;

  await store.transaction(() => {
    const at = now.toISOString();
    for (const r of due) {
      const rendered = deps.renderer.render('password-expiry', {
        name: showValue(r.name),
        expires: r.expiresAt
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, ' UTC'),
        daysLeft: r.daysLeft,
        today: r.daysLeft === 0,
        portalUrl: config.passwordExpiry.portalUrl,
      });
      store.outbox.add({
        cycleId: null,
        createdAt: at,
        status: 'pending',
        kind: 'password-expiry',
        objectGuid: r.guid,
        messageId: newMessageId(config.smtp.from),
        envelope: { from: config.smtp.from, to: [r.mail], cc: [] },
        ...rendered,
      });
      const expires = r.expiresAt.toISOString();
      store.recordReminder(r.guid, expires, r.threshold, 'sent', at);
      for (const t of r.passed) store.recordReminder(r.guid, expires, t, 'passed', at);
    }
    return Promise.resolve();
  });
  log.info('password reminders queued', { reminders: due.length });
  return due;
}
