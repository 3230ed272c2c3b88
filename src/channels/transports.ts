/**
 * The transports of the channels besides mail, by outbox channel name: each configured
 * Teams, Slack or webhook channel, and the SIEM sinks. Under delivery.dryRun each writes its
 * payloads as files beside the .eml files instead, and nothing leaves the machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';

import { Webhook } from 'standardwebhooks';

import type { Config } from '../config/schema.js';
import { SIEM_FILE, SIEM_SYSLOG } from '../core/channels.js';
import { errorMessage } from '../errors.js';
import { DeliveryError, type Transport } from '../mail/port.js';
import { describeEndpoint, postJson } from './http.js';
import { fileSink, syslogSink } from './sinks.js';

export type ChannelConfig = Config['channels'][number];

const KIND: Record<ChannelConfig['type'], string> = { teams: 'Teams', slack: 'Slack', webhook: 'Webhook' };

/** Every channel's transport but mail's, by channel name, in the order they are delivered. */
export function channelTransports(
  config: Pick<Config, 'channels' | 'siem' | 'delivery'>,
  dryRunDir: string,
): Map<string, Transport> {
  const out = new Map<string, Transport>();
  const dry = config.delivery.dryRun;
  for (const channel of config.channels) {
    out.set(channel.name, dry ? dryRunTransport(dryRunDir, channel.name) : httpChannel(channel));
  }
  const siem = config.siem;
  if (siem?.syslog)
    out.set(
      SIEM_SYSLOG,
      dry ? dryRunTransport(dryRunDir, SIEM_SYSLOG) : syslogSink(siem.syslog, siem.caFile),
    );
  if (siem?.file) {
    out.set(
      SIEM_FILE,
      dry ? dryRunTransport(dryRunDir, SIEM_FILE) : fileSink(siem.file, siem.fileMaxBytes, siem.fileKeep),
    );
  }
  return out;
}

function httpChannel(channel: ChannelConfig): Transport {
  const endpoint = describeEndpoint(KIND[channel.type], channel.name, channel.url);
  const signer = channel.type === 'webhook' && channel.secret !== null ? new Webhook(channel.secret) : null;
  return {
    name: channel.type,
    target: endpoint,
    service: endpoint,
    send(letter) {
      if (signer === null) return postJson(endpoint, channel.url, letter.text);
      // Standard Webhooks: the id is the event's (the same on every retry), the time this try's.
      const at = new Date();
      return postJson(endpoint, channel.url, letter.text, {
        'webhook-id': letter.messageId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signer.sign(letter.messageId, at, letter.text),
      });
    },
    check() {
      // Posting would show a message in the channel; a TLS handshake proves the name, the route
      // and the certificate, and says nothing to anyone.
      const url = new URL(channel.url);
      return new Promise<string>((resolve, reject) => {
        const socket = connect({
          host: url.hostname,
          port: Number(url.port || 443),
          servername: url.hostname,
        });
        socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10s')));
        socket.once('secureConnect', () => {
          socket.end();
          resolve(`${endpoint}: TLS connection made, certificate verified (nothing posted)`);
        });
        socket.once('error', (err) => {
          reject(new DeliveryError(`${endpoint} could not be reached: ${errorMessage(err)}`, 'unreachable'));
        });
      });
    },
    close() {
      // fetch keeps no connection of ours open.
    },
  };
}

/** delivery.dryRun: `<dir>/<channel>/<id>.json` (or .log), exactly the payload, nothing sent. */
function dryRunTransport(dir: string, channel: string): Transport {
  const where = join(dir, channel);
  return {
    name: 'dry-run',
    target: where,
    service: 'the dry run',
    send(letter) {
      mkdirSync(where, { recursive: true, mode: 0o700 });
      const file = join(where, `${String(letter.id ?? 0).padStart(6, '0')}.json`);
      writeFileSync(file, letter.text, { mode: 0o600 });
      return Promise.resolve({ answer: `written to ${file}` });
    },
    check() {
      return Promise.resolve(`delivery.dryRun: ${channel} items are written to ${where}`);
    },
    close() {
      // Nothing held open.
    },
  };
}
