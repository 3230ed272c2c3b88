/**
 * The nodemailer SMTP transport built from `smtp:`, and the mapping of its failures to
 * errors an administrator can act on. Certificates are verified unless the config says not.
 */
import { readFileSync } from 'node:fs';

import { createTransport } from 'nodemailer';

import type { SmtpConfig } from '../config/schema.js';
import { ConfigError, SmtpAuthError, SmtpError, errorMessage } from '../errors.js';

export function smtpTransport(config: SmtpConfig, options: { pool?: boolean; timeoutMs?: number } = {}) {
  const timeout = options.timeoutMs ?? 30_000;
  let ca: Buffer | undefined;
  if (config.tls.caFile !== null) {
    try {
      ca = readFileSync(config.tls.caFile);
    } catch (err: unknown) {
      throw new ConfigError('smtp', [
        { path: 'smtp.tls.caFile', message: `cannot read ${config.tls.caFile}: ${errorMessage(err)}` },
      ]);
    }
  }
  return createTransport({
    pool: options.pool === true,
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: !config.secure && config.requireTls,
    ignoreTLS: false,
    tls: { rejectUnauthorized: config.tls.rejectUnauthorized, minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) },
    ...(config.auth ? { auth: { user: config.auth.user, pass: config.auth.pass } } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
  } as Parameters<typeof createTransport>[0] & { pool: true });
}

const TLS_CERT = /certificate|self[- ]signed|altname|unable to verify/i;

/** What nodemailer threw, as SmtpError (69) or SmtpAuthError (77, credentials or certificate). */
export function classifySmtpError(err: unknown, config: SmtpConfig): SmtpError {
  const code = (err as { code?: unknown }).code;
  const response = (err as { response?: unknown }).response;
  const where = `${config.host}:${config.port}`;
  const detail = typeof response === 'string' ? response : errorMessage(err);
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    return new SmtpAuthError(
      `${where}: SMTP authentication failed (${detail}). Check smtp.auth.user and smtp.auth.pass.`,
      {
        cause: err,
      },
    );
  }
  if (TLS_CERT.test(errorMessage(err))) {
    return new SmtpAuthError(
      `${where}: TLS certificate verification failed (${errorMessage(err)}). Trust the issuing CA with smtp.tls.caFile.`,
      { cause: err },
    );
  }
  if (code === 'ETLS' || /STARTTLS/i.test(detail)) {
    return new SmtpError(
      `${where}: STARTTLS failed (${detail}). The server must offer STARTTLS while smtp.requireTls is true; or use smtp.secure: true for implicit TLS on port 465.`,
      { cause: err },
    );
  }
  return new SmtpError(`${where}: SMTP ${typeof code === 'string' ? `${code}: ` : ''}${detail}`, {
    cause: err,
  });
}
