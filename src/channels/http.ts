/**
 * One JSON POST to a chat or webhook endpoint, with its answer classified for the outbox:
 * 2xx taken; 429 and 5xx retried (with the outbox's back-off, never sooner than Retry-After);
 * any other answer fails that one item and keeps what was said (status and the start of the
 * body); no answer at all (refused, DNS, TLS, timeout) is an outage: every item waits.
 *
 * The URL is the channel's key (Slack, Teams and most webhook services put a token in it), so
 * no message here quotes it: the channel is named by its config name and the URL's host.
 */
import { errorMessage } from '../errors.js';
import { DeliveryError, type Receipt } from '../mail/port.js';

/** How much of an error answer is kept for `outbox list`. */
const ANSWER_CHARS = 300;
const TIMEOUT_MS = 30_000;

/** "Teams channel secops (prod-12.westus.logic.azure.com)": the host only, never the path. */
export function describeEndpoint(kind: string, name: string, url: string): string {
  let host = '?';
  try {
    host = new URL(url).host;
  } catch {
    // The config schema admits only valid URLs.
  }
  return `${kind} channel ${name} (${host})`;
}

export async function postJson(
  endpoint: string,
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Receipt> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'adnotify', ...headers },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err: unknown) {
    throw new DeliveryError(`${endpoint} could not be reached: ${reason(err)}`, 'unreachable', {
      cause: err,
    });
  }
  const text = await response.text().catch(() => '');
  const said = `${endpoint} answered ${response.status}${text ? `: ${oneLine(text)}` : ''}`;
  if (response.status >= 200 && response.status < 300) return { answer: `${response.status}` };
  const after = retryAfterMs(response.headers.get('retry-after'));
  if (response.status === 429 || response.status >= 500) {
    throw new DeliveryError(`${said}; retried`, 'retry', { retryAfterMs: after });
  }
  throw new DeliveryError(`${said}; this item is not sent again`, 'message');
}

/** Why fetch failed, from its cause (undici says only "fetch failed"); never the URL. */
function reason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000}s`;
  const code = (cause as { code?: string } | undefined)?.code;
  const text = cause instanceof Error ? cause.message : errorMessage(err);
  return code !== undefined && !text.includes(code) ? `${code} ${text}` : text;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= ANSWER_CHARS ? flat : `${flat.slice(0, ANSWER_CHARS)}…`;
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds > 0 ? seconds * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
