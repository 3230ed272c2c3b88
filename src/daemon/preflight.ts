/**
 * What `adnotify run` checks before it schedules anything: what cannot fix itself (a refused
 * bind, refused mail credentials, a bad config) stops it at once with its exit code; a server
 * that is merely down is logged, and the polls and deliveries retry on schedule.
 */
import type { Config } from '../config/schema.js';
import { namingContextOf } from '../core/dn.js';
import { TOMBSTONES_HIDDEN } from '../directory/errors.js';
import type { DirectorySource } from '../directory/port.js';
import { ConfigError, DirectoryAuthError, errorMessage, SmtpAuthError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Transport } from '../mail/port.js';
import { commandError } from '../mail/transports.js';

export async function preflight(
  config: Config,
  directory: DirectorySource,
  transport: Transport,
  log: Logger,
): Promise<void> {
  try {
    await directory.connect();
    const identity = await directory.identity();
    const context = namingContextOf(config.directory.baseDN, identity.namingContexts);
    if (!(await directory.tombstonesVisible(context))) {
      log.warn('no deleted object is visible to the bind account: deletions may be missed', {
        fix: TOMBSTONES_HIDDEN(config.directory.bindDN, context),
      });
    }
  } catch (err: unknown) {
    if (err instanceof DirectoryAuthError || err instanceof ConfigError) throw err;
    log.warn('directory not reachable at start; polls retry on schedule', { err: errorMessage(err) });
    await directory.close();
  }
  if (config.delivery.dryRun) return;
  try {
    await transport.check();
  } catch (err: unknown) {
    // Refused credentials cannot fix themselves: stop now, as for a refused bind.
    const failure = commandError(err);
    if (failure instanceof SmtpAuthError) throw failure;
    log.warn('mail service not reachable at start; mail waits in the outbox', { err: errorMessage(err) });
  }
}
