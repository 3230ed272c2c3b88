/**
 * Which transport the config asks for, and what a command makes of a transport's refusal.
 */
import type { Config } from '../config/schema.js';
import { SmtpAuthError, SmtpError } from '../errors.js';
import { emlTransport } from './eml.js';
import { graphTransport } from './graph.js';
import { DeliveryError, type Transport } from './port.js';
import { smtpTransport } from './smtp.js';

/**
 * .eml files in `emlDir` (delivery.dryRun, unless `real`), Microsoft Graph (delivery.transport
 * graph), or SMTP with a password or XOAUTH2 (smtp.auth.type).
 */
export function transportFor(
  config: Pick<Config, 'delivery' | 'smtp' | 'microsoft365'>,
  emlDir: string,
  options: { real?: boolean } = {},
): Transport {
  const { delivery, smtp, microsoft365 } = config;
  if (delivery.dryRun && options.real !== true) return emlTransport(emlDir);
  if (delivery.transport === 'graph' && microsoft365) return graphTransport(microsoft365, smtp.from);
  return smtpTransport(smtp, microsoft365);
}

/**
 * A failed send or check as the error a command exits with: the transport's own when it has
 * one (SMTP: a refused certificate is 77 too), else 77 for refused credentials, 69 otherwise.
 */
export function commandError(err: unknown): unknown {
  if (!(err instanceof DeliveryError)) return err;
  if (err.cause instanceof SmtpError) return err.cause;
  return err.refusal === 'credentials'
    ? new SmtpAuthError(err.message, { cause: err })
    : new SmtpError(err.message, { cause: err });
}
