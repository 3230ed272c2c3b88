/**
 * The nodemailer SMTP transport built from `smtp:`, and the mapping of its failures to
 * errors an administrator can act on. Certificates are verified unless the config says not.
 */
import { readFileSync } from 'node:fs';

import { createTransport } from 'nodemailer';

import type { Microsoft365Config, SmtpConfig } from '../config/schema.js';
import { ConfigError, SmtpAuthError, SmtpError, errorMessage } from '../errors.js';
import { accessToken, SMTP_SCOPE, TokenError } from './microsoft365.js';

/**
 * The SMTP transport. With smtp.auth.type oauth2 it logs in with XOAUTH2 and a token from
 * microsoft365: asked for on each login (msal-node serves it from its cache while fresh), so a
 * long-lived pool never uses an expired token.
 */
export function smtpTransport(
  config: SmtpConfig,
  options: { pool?: boolean; timeoutMs?: number; microsoft365?: Microsoft365Config | undefined } = {},
) {
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
  const oauth2 = config.auth?.type === 'oauth2';
  const m365 = options.microsoft365;
  if (oauth2 && m365 === undefined) {
    throw new ConfigError('smtp', [
      { path: 'smtp.auth.type', message: 'oauth2 needs the microsoft365: block' },
    ]);
  }
  const auth = config.auth
    ? oauth2
      ? { type: 'OAuth2', user: config.auth.user }
      : { user: config.auth.user, pass: config.auth.pass }
    : undefined;
  const transport = createTransport({
    pool: options.pool === true,
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: !config.secure && config.requireTls,
    ignoreTLS: false,
    tls: { rejectUnauthorized: config.tls.rejectUnauthorized, minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) },
    ...(auth ? { auth } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
  } as Parameters<typeof createTransport>[0] & { pool: true });
  if (oauth2 && m365) {
    // nodemailer's hook for tokens it cannot make itself. The expiry goes with the token:
    // nodemailer keeps it until then and asks again after, or at once when refused (renew).
    transport.set(
      'oauth2_provision_cb',
      (
        _user: string,
        renew: boolean,
        done: (err: Error | null, token?: string, expires?: number) => void,
      ) => {
        accessToken(m365, SMTP_SCOPE, renew).then(
          ({ token, expiresAt }) => {
            done(null, token, expiresAt);
          },
          (err: unknown) => {
            done(err instanceof Error ? err : new Error(String(err)));
          },
        );
      },
    );
  }
  return transport;
}

const TLS_CERT = /certificate|self[- ]signed|altname|unable to verify/i;

/** What nodemailer threw, as SmtpError (69) or SmtpAuthError (77, credentials or certificate). */
export function classifySmtpError(err: unknown, config: SmtpConfig): SmtpError {
  const code = (err as { code?: unknown }).code;
  const response = (err as { response?: unknown }).response;
  const where = `${config.host}:${config.port}`;
  const detail = typeof response === 'string' ? response : errorMessage(err);
  if (err instanceof TokenError) return new SmtpAuthError(`${where}: ${err.message}`, { cause: err });
  if ((code === 'EAUTH' || code === 'ENOAUTH') && config.auth?.type === 'oauth2') {
    return new SmtpAuthError(
      `${where}: the server refused the Microsoft 365 token for ${config.auth.user} (${detail}). The app needs the SMTP.SendAsApp permission and an Exchange service principal with access to that mailbox (README, "Sending through Microsoft 365").`,
      { cause: err },
    );
  }
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
