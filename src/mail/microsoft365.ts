/**
 * App-only tokens for Microsoft 365 (the client-credentials flow), from @azure/msal-node:
 * Microsoft's library for it caches each token and asks for a new one before it expires, which
 * nodemailer cannot do by itself for Microsoft 365 (nodemailer issues 1485, 1552). The
 * authority host is configurable (national clouds; loopback in tests) and passed as a known
 * authority, so msal-node does not ask login.microsoftonline.com for instance discovery. HTTPS
 * trusts the system store plus NODE_EXTRA_CA_CERTS. A token never reaches a log or an error.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { ConfidentialClientApplication, Configuration } from '@azure/msal-node';

import type { Microsoft365Config } from '../config/schema.js';
import { AdnotifyError, ConfigError, errorMessage } from '../errors.js';

/** The scope of SMTP AUTH (XOAUTH2) with an app-only token. */
export const SMTP_SCOPE = 'https://outlook.office365.com/.default';

/**
 * The token could not be had. `refused`: the identity platform answered no (a wrong tenant,
 * client, secret or certificate, a consent missing), which only a fixed config can mend; else
 * it could not be reached or failed (network, 5xx), which may pass.
 */
export class TokenError extends AdnotifyError {
  readonly refused: boolean;

  constructor(message: string, refused: boolean) {
    super(message);
    this.refused = refused;
  }
}

/**
 * Whether msal-node's error is the identity platform refusing the request (an OAuth error in
 * a 4xx answer), as opposed to not answering or failing (network, 5xx).
 */
function refusedByServer(err: unknown): boolean {
  const { name, status, errorCode } = err as { name?: unknown; status?: unknown; errorCode?: unknown };
  if (name !== 'ServerError') return false;
  if (typeof status === 'number') return status >= 400 && status < 500 && status !== 429;
  return typeof errorCode === 'string' && /^(invalid_|unauthorized_client|unsupported_)/.test(errorCode);
}

/** Tokens for one app identity, from one msal-node client whose cache serves every request. */
export interface TokenSource {
  /**
   * An access token for `scope` and when it expires: from the cache while it is fresh, else a
   * new one; with `renew`, a new one whatever the cache says (the server refused the last).
   * Throws TokenError (or ConfigError for an unreadable certificate).
   */
  token(scope: string, renew?: boolean): Promise<{ token: string; expiresAt: number | undefined }>;
}

/**
 * A token source for `config`. Each transport makes its own, so a reloaded config (a new
 * secret) is never served by the client, or the cache, of the old one.
 */
export function tokenSource(config: Microsoft365Config): TokenSource {
  let app: ConfidentialClientApplication | undefined;
  return {
    async token(scope, renew = false) {
      try {
        app ??= await clientFor(config);
        const result = await app.acquireTokenByClientCredential({ scopes: [scope], skipCache: renew });
        if (!result?.accessToken) throw new Error('the token endpoint returned no access token');
        return { token: result.accessToken, expiresAt: result.expiresOn?.getTime() };
      } catch (err: unknown) {
        if (err instanceof ConfigError) throw err;
        throw tokenError(config, err);
      }
    },
  };
}

/** The app's proof: its client secret, or its certificate and private key (a signed assertion). */
function credential(
  config: Microsoft365Config,
): Pick<Configuration['auth'], 'clientSecret' | 'clientCertificate'> {
  if (config.clientSecret !== null) return { clientSecret: config.clientSecret };
  const read = (path: string | null, key: string) => {
    try {
      return readFileSync(path ?? '', 'utf8');
    } catch (err: unknown) {
      throw new ConfigError('microsoft365', [
        { path: key, message: `cannot read ${path ?? ''}: ${errorMessage(err)}` },
      ]);
    }
  };
  const certificate = read(config.certificateFile, 'microsoft365.certificateFile');
  const privateKey = read(config.privateKeyFile, 'microsoft365.privateKeyFile');
  const thumbprintSha256 = new X509Certificate(certificate).fingerprint256.replace(/:/g, '');
  return { clientCertificate: { thumbprintSha256, privateKey, x5c: certificate } };
}

/**
 * msal-node is loaded with the first token asked for, not with adnotify: it and what it brings
 * (jsonwebtoken, @azure/msal-common) cost 20 MB of memory that a daemon sending through SMTP
 * with a password never needs.
 */
async function clientFor(config: Microsoft365Config): Promise<ConfidentialClientApplication> {
  const host = new URL(config.authorityHost).host;
  const { ConfidentialClientApplication, LogLevel } = await import('@azure/msal-node');
  return new ConfidentialClientApplication({
    auth: {
      clientId: config.clientId,
      authority: `${config.authorityHost.replace(/\/+$/, '')}/${config.tenantId}`,
      knownAuthorities: [host],
      ...credential(config),
    },
    system: {
      loggerOptions: {
        logLevel: LogLevel.Error,
        piiLoggingEnabled: false,
        loggerCallback: () => undefined,
      },
    },
  });
}

function tokenError(config: Microsoft365Config, err: unknown): TokenError {
  const code = (err as { errorCode?: unknown }).errorCode;
  const refused = refusedByServer(err);
  const said = platformSaid(typeof code === 'string' ? code : null, errorMessage(err));
  const what = `Microsoft 365 token request to ${config.authorityHost} for tenant ${config.tenantId}`;
  return new TokenError(
    refused
      ? `${what} was refused (${said}). Check microsoft365.tenantId, clientId and clientSecret (or the certificate), and that the app registration has the permission (README, "Sending through Microsoft 365").`
      : `${what} failed (${said}). Check that ${config.authorityHost} can be reached from here (a proxy's CA goes in NODE_EXTRA_CA_CERTS); adnotify tries again.`,
    refused,
  );
}

/**
 * What the identity platform said, short: msal-node's message repeats the code and wraps the
 * AADSTS description in timestamps, trace and correlation ids over several lines.
 */
function platformSaid(code: string | null, message: string): string {
  const description = /Description: (.*?)(?: - Correlation ID| Trace ID|$)/m.exec(message)?.[1]?.trim();
  const text = description ?? message.split('\n')[0]?.trim() ?? message;
  return code === null || text.startsWith(code) ? text : `${code}: ${text}`;
}
