/**
 * The password-expiry job: reads every watched, mail-enabled user's
 * msDS-UserPasswordExpiryTimeComputed (it already honours fine-grained password policies and
 * "password never expires"), decides which reminders are due, and queues them in the outbox
 * with a record per threshold, in one transaction.
 */
import { accountFlags, UAC_ACCOUNTDISABLE, UAC_DONT_EXPIRE_PASSWORD } from '../core/account.js';
import { mailAddress } from '../core/address.js';
import { fromFiletime, reminderDue, type Reminder } from '../core/passwordExpiry.js';
import { utcText } from '../core/time.js';
import { textOf } from '../core/types.js';
import type { Deps } from '../deps.js';
import { rdnValue, showValue } from '../mail/render.js';
import { enqueue } from '../notify/enqueue.js';

export interface DueReminder extends Reminder {
  guid: string;
  dn: string;
  mail: string;
  name: string;
  expiresAt: Date;
}

const EXPIRY = 'msDS-UserPasswordExpiryTimeComputed';

/** Who is due a reminder now, and why. With `dryRun` nothing is recorded or queued. */
export async function passwordExpiryJob(deps: Deps, options: { dryRun: boolean }): Promise<DueReminder[]> {
  const { config, directory, store, clock, log } = deps;
  const now = clock.now();
  const thresholds = config.passwordExpiry.daysBefore;
  const due: DueReminder[] = [];
  const filter = `(&${config.directory.filter}(objectClass=user)(!(objectClass=computer))(mail=*))`;
  for await (const page of directory.search({ filter, attributes: [EXPIRY, 'pwdLastSet'] })) {
    for (const entry of page) {
      const uac = accountFlags(textOf(entry, 'userAccountControl'));
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
        await store.reminders.recorded(entry.guid, expiresAt.toISOString()),
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

  await store.transaction(async () => {
    const at = now.toISOString();
    for (const r of due) {
      const rendered = deps.renderer.render('password-expiry', {
        name: showValue(r.name),
        expires: utcText(r.expiresAt),
        daysLeft: r.daysLeft,
        today: r.daysLeft === 0,
        portalUrl: config.passwordExpiry.portalUrl,
      });
      await enqueue(
        store.outbox,
        config.smtp.from,
        { cycleId: null, createdAt: at, kind: 'password-expiry', objectGuid: r.guid, to: [r.mail] },
        rendered,
      );
      const expires = r.expiresAt.toISOString();
      await store.reminders.record({
        userGuid: r.guid,
        expiresAt: expires,
        threshold: r.threshold,
        outcome: 'sent',
        at,
      });
      for (const t of r.passed) {
        await store.reminders.record({
          userGuid: r.guid,
          expiresAt: expires,
          threshold: t,
          outcome: 'passed',
          at,
        });
      }
    }
  });
  log.info('password reminders queued', { reminders: due.length });
  return due;
}
