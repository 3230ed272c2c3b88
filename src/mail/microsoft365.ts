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

import { ConfidentialClientApplication, LogLevel, type Configuration } from '@azure/msal-node';

import type { Microsoft365Config } from '../config/schema.js';
import { AdnotifyError, ConfigError, errorMessage } from '../errors.js';

/** The scope of SMTP AUTH (XOAUTH2) with an app-only token. */
export const SMTP_SCOPE = 'https://outlook.office365.com/.default';

/** The token could not be had: wrong tenant, client or secret, or the endpoint unreachable. */
export class TokenError extends AdnotifyError {}

const apps = new Map<string, ConfidentialClientApplication>();

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

/** One msal-node client per app identity, so its token cache serves every connection. */
function appFor(config: Microsoft365Config): ConfidentialClientApplication {
  const key = `${config.authorityHost}|${config.tenantId}|${config.clientId}`;
  let app = apps.get(key);
  if (!app) {
    const host = new URL(config.authorityHost).host;
    app = new ConfidentialClientApplication({
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
    apps.set(key, app);
  }
  return app;
}

/**
 * An access token for `scope` and when it expires: from the cache while it is fresh, else a
 * new one; with `renew`, a new one whatever the cache says (the server refused the last).
 */
export async function accessToken(
  config: Microsoft365Config,
  scope: string,
  renew = false,
): Promise<{ token: string; expiresAt: number | undefined }> {
  try {
    const result = await appFor(config).acquireTokenByClientCredential({ scopes: [scope], skipCache: renew });
    if (!result?.accessToken) throw new Error('the token endpoint returned no access token');
    return { token: result.accessToken, expiresAt: result.expiresOn?.getTime() };
  } catch (err: unknown) {
    if (err instanceof ConfigError) throw err;
    const code = (err as { errorCode?: unknown }).errorCode;
    throw new TokenError(
      `Microsoft 365 token request to ${config.authorityHost} for tenant ${config.tenantId} failed (${typeof code === 'string' ? `${code}: ` : ''}${firstLine(errorMessage(err))}). Check microsoft365.tenantId, clientId and clientSecret (or the certificate), and that the app registration has the permission (README, "Sending through Microsoft 365").`,
    );
  }
}

/** msal errors carry trace and correlation ids over several lines: the first says what failed. */
function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? text;
}
