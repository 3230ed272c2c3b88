/**
 * Mail through Microsoft Graph (delivery.transport graph): `POST /v1.0/users/{sender}/sendMail`
 * with the message as MIME (base64), composed by nodemailer from the same options as the SMTP
 * path, so the text, HTML and headers are exactly those SMTP would send. The token is the
 * app's (microsoft365:, scope <graphBaseUrl>/.default). Microsoft, "Send Outlook messages in
 * MIME format": https://learn.microsoft.com/graph/outlook-send-mime-message
 *
 * Outcomes as the outbox needs them: 202 sent; 429 throttled (nothing more this round; this
 * message waits for Retry-After); 5xx retried; 400 about the message (ErrorInvalidRecipients)
 * failed, that message only; 401 or 403 (a refused token, a mailbox the app may not send as)
 * and a refused token request are the configuration's fault: every message waits until it is
 * fixed.
 */
import type { Microsoft365Config } from '../config/schema.js';
import { mailboxAddress } from '../core/address.js';
import { retryAfterMs } from '../channels/http.js';
import { errorMessage } from '../errors.js';
import { TokenError, tokenSource, type TokenSource } from './microsoft365.js';
import { mimeComposer } from './mime.js';
import { DeliveryError, type Receipt, type Transport } from './port.js';

/** The mailbox Graph sends as: microsoft365.sender, else smtp.from's address. */
export function graphSender(config: Microsoft365Config, from: string): string {
  return config.sender ?? mailboxAddress(from) ?? from;
}

export function graphTransport(config: Microsoft365Config, from: string): Transport {
  const mime = mimeComposer();
  const tokens = tokenSource(config);
  const sender = graphSender(config, from);
  return {
    name: 'graph',
    target: `Microsoft Graph as ${sender}`,
    service: 'Microsoft Graph',
    async send(letter) {
      return graphSend(config, tokens, sender, await mime.compose(letter));
    },
    async check() {
      await graphToken(config, tokens);
      return `token from ${config.authorityHost} for app ${config.clientId}; mail goes out as ${sender} ("adnotify test-email" tries the Mail.Send permission)`;
    },
    close() {
      mime.close();
    },
  };
}

function baseUrl(config: Microsoft365Config): string {
  return config.graphBaseUrl.replace(/\/+$/, '');
}

/** A token for the Graph scope; a refusal is the config's fault, anything else may pass. */
async function graphToken(config: Microsoft365Config, tokens: TokenSource): Promise<string> {
  try {
    return (await tokens.token(`${baseUrl(config)}/.default`)).token;
  } catch (err: unknown) {
    const refused = err instanceof TokenError && err.refused;
    throw new DeliveryError(errorMessage(err), refused ? 'credentials' : 'unreachable', { cause: err });
  }
}

/** Sends one MIME message through Graph; throws DeliveryError classified for the outbox. */
async function graphSend(
  config: Microsoft365Config,
  tokens: TokenSource,
  sender: string,
  mime: Buffer,
): Promise<Receipt> {
  const base = baseUrl(config);
  const token = await graphToken(config, tokens);
  const url = `${base}/v1.0/users/${encodeURIComponent(sender)}/sendMail`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: mime.toString('base64'),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err: unknown) {
    throw new DeliveryError(
      `Microsoft Graph at ${base} could not be reached: ${errorMessage(err)}`,
      'unreachable',
      { cause: err },
    );
  }
  const requestId = response.headers.get('request-id');
  if (response.status === 202) return { answer: `request-id ${requestId ?? '(none)'}` };
  const detail = await response.text().catch(() => '');
  const code = /"code"\s*:\s*"([^"]+)"/.exec(detail)?.[1] ?? String(response.status);
  const said = `Microsoft Graph answered ${response.status} ${code}${requestId ? ` (request-id ${requestId})` : ''}`;
  if (response.status === 401) {
    throw new DeliveryError(
      `${said}: Graph did not accept the app's token. Check that the app registration is in tenant microsoft365.tenantId and that microsoft365.graphBaseUrl is the Graph of its cloud (README, "Sending through Microsoft 365").`,
      'credentials',
    );
  }
  if (response.status === 403) {
    throw new DeliveryError(
      `${said}: the app may not send as ${sender}. Give it the Mail.Send application permission, scoped to that mailbox (RBAC for Applications), and check microsoft365.sender (README, "Sending through Microsoft 365").`,
      'credentials',
    );
  }
  if (response.status === 404 && /MailboxNotEnabled|ResourceNotFound|ErrorInvalidUser/i.test(code)) {
    throw new DeliveryError(
      `${said}: there is no mailbox ${sender}. Set microsoft365.sender (or smtp.from) to a mailbox of the tenant.`,
      'credentials',
    );
  }
  const after = retryAfterMs(response.headers.get('retry-after'));
  if (response.status === 429) {
    throw new DeliveryError(`${said}; sending waits as Graph asked`, 'throttled', { retryAfterMs: after });
  }
  if (response.status >= 500) {
    throw new DeliveryError(`${said}; retried`, 'retry', { retryAfterMs: after });
  }
  // 400 and the like: this message cannot be sent (an invalid recipient); the others go on.
  throw new DeliveryError(`${said}: the message was refused`, 'message');
}
