/**
 * Mail through Microsoft Graph (delivery.transport graph): `POST /v1.0/users/{sender}/sendMail`
 * with the message as MIME (base64), built by nodemailer from the same options as the SMTP
 * path, so the text, HTML and headers are exactly those SMTP would send. The token is the
 * app's (microsoft365:, scope <graphBaseUrl>/.default). Microsoft, "Send Outlook messages in
 * MIME format": https://learn.microsoft.com/graph/outlook-send-mime-message
 *
 * Outcomes as the outbox needs them: 202 sent; 429 or 5xx retried (after Retry-After when
 * given); 400 about the message (ErrorInvalidRecipients) failed, that message only; 401 or 403
 * (a refused token, a mailbox the app may not send as) stop the round like an unreachable
 * server: every message waits, /healthz says why, until the configuration is fixed.
 */
import { createTransport } from 'nodemailer';

import type { Microsoft365Config } from '../config/schema.js';
import { mailAddress } from '../core/address.js';
import { errorMessage } from '../errors.js';
import { DeliveryError, mailOptions, type Mailer } from './dispatcher.js';
import { accessToken } from './microsoft365.js';

export interface GraphSendResult {
  /** Graph's request-id header, to quote to Microsoft support. */
  requestId: string | null;
}

/** The mailbox Graph sends as: microsoft365.sender, else smtp.from's address. */
export function graphSender(config: Microsoft365Config, from: string): string {
  return config.sender ?? mailAddress(from.replace(/^.*<([^>]+)>\s*$/, '$1')) ?? from;
}

/** Sends one MIME message through Graph; throws DeliveryError classified for the outbox. */
export async function graphSend(
  config: Microsoft365Config,
  sender: string,
  mime: Buffer,
): Promise<GraphSendResult> {
  const base = config.graphBaseUrl.replace(/\/+$/, '');
  let token: string;
  try {
    ({ token } = await accessToken(config, `${base}/.default`));
  } catch (err: unknown) {
    // No token, no message goes out: every message waits until the configuration is fixed.
    throw new DeliveryError(errorMessage(err), { code: 'EAUTH' });
  }
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
    throw new DeliveryError(`Microsoft Graph at ${base} could not be reached: ${errorMessage(err)}`, {
      code: 'ECONNECTION',
    });
  }
  const requestId = response.headers.get('request-id');
  if (response.status === 202) return { requestId };
  const detail = await response.text().catch(() => '');
  const code = /"code"\s*:\s*"([^"]+)"/.exec(detail)?.[1] ?? String(response.status);
  const said = `Microsoft Graph answered ${response.status} ${code}${requestId ? ` (request-id ${requestId})` : ''}`;
  if (response.status === 401 || response.status === 403) {
    throw new DeliveryError(
      `${said}: the app may not send as ${sender}. Give it the Mail.Send application permission, scoped to that mailbox (RBAC for Applications), and check microsoft365.sender (README, "Sending through Microsoft 365").`,
      { code: 'EAUTH' },
    );
  }
  if (response.status === 429 || response.status >= 500) {
    const failure = new DeliveryError(`${said}; retried`, {});
    const after = Number(response.headers.get('retry-after'));
    if (Number.isFinite(after) && after > 0) failure.retryAfterMs = after * 1000;
    throw failure;
  }
  // 400 and the like: this message cannot be sent (an invalid recipient); the others go on.
  throw new DeliveryError(`${said}: the message was refused`, { responseCode: 550 });
}

export function graphMailer(config: Microsoft365Config, from: string): Mailer {
  const compose = createTransport({ streamTransport: true, buffer: true });
  const sender = graphSender(config, from);
  return {
    target: `Microsoft Graph as ${sender}`,
    async send(message) {
      const info = await compose.sendMail(mailOptions(message));
      const raw: unknown = info.message;
      if (!Buffer.isBuffer(raw)) throw new Error('nodemailer did not return the message as a buffer');
      await graphSend(config, sender, raw);
    },
    close() {
      compose.close();
    },
  };
}

/**
 * The first step of sending through Graph, for check-config --connect and a daemon's start:
 * a token for the Graph scope. Whether the app may send as the mailbox shows only on sending
 * (adnotify test-email). Throws TokenError.
 */
export async function graphToken(config: Microsoft365Config): Promise<void> {
  await accessToken(config, `${config.graphBaseUrl.replace(/\/+$/, '')}/.default`);
}
