/**
 * The SMTP transport (delivery.transport smtp): nodemailer, built from `smtp:`, logging in
 * with a password or, with smtp.auth.type oauth2, with XOAUTH2 and a Microsoft 365 app-only
 * token; and the mapping of its failures to what the outbox and an administrator act on.
 * Certificates are verified unless the config says not.
 */
import { readFileSync } from 'node:fs';

import { createTransport } from 'nodemailer';

import type { Microsoft365Config, SmtpConfig } from '../config/schema.js';
import { ConfigError, SmtpAuthError, SmtpError, errorMessage } from '../errors.js';
import { SMTP_SCOPE, TokenError, tokenSource } from './microsoft365.js';
import { DeliveryError, mailOptions, type Refusal, type Transport } from './port.js';

export function smtpTransport(config: SmtpConfig, microsoft365?: Microsoft365Config): Transport {
  const transport = nodemailerSmtp(config, { pool: true, microsoft365 });
  const oauth2 = config.auth?.type === 'oauth2';
  return {
    name: 'smtp',
    target: `${config.host}:${config.port}`,
    service: 'the SMTP server',
    async send(letter) {
      try {
        const info = (await transport.sendMail(mailOptions(letter))) as { response?: string };
        return { answer: `the server said: ${info.response ?? 'OK'}` };
      } catch (err: unknown) {
        throw smtpDeliveryError(err, config);
      }
    },
    async check() {
      try {
        await transport.verify();
      } catch (err: unknown) {
        throw smtpDeliveryError(err, config);
      }
      if (!config.auth) return `${config.host}:${config.port} accepted the connection`;
      return oauth2
        ? `${config.host}:${config.port} accepted the connection and the XOAUTH2 login of ${config.auth.user} with a Microsoft 365 token`
        : `${config.host}:${config.port} accepted the connection and the credentials`;
    },
    close() {
      transport.close();
    },
  };
}

/**
 * nodemailer's codes for a session that could not be had (connection, TLS), as opposed to a
 * message the server would not take (EENVELOPE, EMESSAGE, a reply code).
 */
const SESSION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'ECONNREFUSED']);

/** What nodemailer threw, as the outbox needs it; its cause says it for a command's exit code. */
export function smtpDeliveryError(err: unknown, config: SmtpConfig): DeliveryError {
  const classified = classifySmtpError(err, config);
  return new DeliveryError(classified.message, smtpRefusal(err), { cause: classified });
}

function smtpRefusal(err: unknown): Refusal {
  if (err instanceof TokenError) return err.refused ? 'credentials' : 'unreachable';
  const code = (err as { code?: unknown }).code;
  const reply = (err as { responseCode?: unknown }).responseCode;
  if (code === 'EAUTH' || code === 'ENOAUTH' || reply === 535) return 'credentials';
  if (reply === 421 || reply === 530) return 'unreachable';
  if (typeof reply === 'number') return reply >= 500 && reply < 600 ? 'message' : 'retry';
  return typeof code === 'string' && SESSION_CODES.has(code) ? 'unreachable' : 'retry';
}

/**
 * nodemailer's SMTP transport. With smtp.auth.type oauth2 it logs in with XOAUTH2 and a token
 * from microsoft365: asked for on each login (msal-node serves it from its cache while
 * fresh), so a long-lived pool never uses an expired token.
 */
function nodemailerSmtp(
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
    const tokens = tokenSource(m365);
    // nodemailer's hook for tokens it cannot make itself. The expiry goes with the token:
    // nodemailer keeps it until then and asks again after, or at once when refused (renew).
    transport.set(
      'oauth2_provision_cb',
      (
        _user: string,
        renew: boolean,
        done: (err: Error | null, token?: string, expires?: number) => void,
      ) => {
        tokens.token(SMTP_SCOPE, renew).then(
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
function classifySmtpError(err: unknown, config: SmtpConfig): SmtpError {
  const code = (err as { code?: unknown }).code;
  const response = (err as { response?: unknown }).response;
  const where = `${config.host}:${config.port}`;
  const detail = typeof response === 'string' ? response : errorMessage(err);
  if (err instanceof TokenError) {
    return err.refused
      ? new SmtpAuthError(`${where}: ${err.message}`, { cause: err })
      : new SmtpError(`${where}: ${err.message}`, { cause: err });
  }
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
