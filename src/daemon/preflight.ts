/**
 * What `adnotify run` checks before it schedules anything: what cannot fix itself (a refused
 * bind, a refused SMTP login, a bad config) stops it at once with its exit code; a server
 * that is merely down is logged, and the polls and deliveries retry on schedule.
 */
import type { Config } from '../config/schema.js';
import { namingContextOf } from '../core/dn.js';
import { TOMBSTONES_HIDDEN } from '../directory/errors.js';
import type { DirectorySource } from '../directory/port.js';
import { ConfigError, DirectoryAuthError, errorMessage, SmtpAuthError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { graphToken } from '../mail/graph.js';
import { classifySmtpError, smtpTransport } from '../mail/transport.js';

export async function preflight(config: Config, directory: DirectorySource, log: Logger): Promise<void> {
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
  if (config.delivery.transport === 'graph' && config.microsoft365) {
    try {
      await graphToken(config.microsoft365);
    } catch (err: unknown) {
      // A refused secret cannot fix itself: stop now, as for a refused SMTP login.
      throw new SmtpAuthError(`graph: ${errorMessage(err)}`, { cause: err });
    }
    return;
  }
  const transport = smtpTransport(config.smtp, { microsoft365: config.microsoft365 });
  try {
    await transport.verify();
  } catch (err: unknown) {
    const classified = classifySmtpError(err, config.smtp);
    if (classified instanceof SmtpAuthError) throw classified;
    log.warn('SMTP server not reachable at start; mail waits in the outbox', { err: classified.message });
  } finally {
    transport.close();
  }
}
