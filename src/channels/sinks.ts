/**
 * The SIEM sinks: RFC 5424 syslog over TCP+TLS, TCP (both octet-counting framed, RFC 5425 and
 * RFC 6587 3.4.1) or UDP (one datagram per record, RFC 5426), and a JSON-lines file rotated
 * by size. Each outbox record is one event's JSON (as `history --json` prints it); a sink
 * that cannot take it is an outage (`unreachable`): every record waits in the outbox, in
 * order, and goes when the sink is back.
 *
 * Syslog over TCP has no acknowledgement: a record is taken once the kernel has it. A
 * receiver that dies holding records it had not read loses them; each record carries the
 * event id, so a receiver can drop the duplicates a resend after a crash brings.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { connect as tlsConnect, rootCertificates } from 'node:tls';

import { errorMessage } from '../errors.js';
import { DeliveryError, type Letter, type Transport } from '../mail/port.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** LOG_AUDIT (13): a record of security-relevant changes. */
const FACILITY = 13;
const NOTICE = 5;
const WARNING = 4;

export interface SyslogTarget {
  scheme: 'tcp+tls' | 'tcp' | 'udp';
  host: string;
  port: number;
}

export function parseSyslogUrl(url: string): SyslogTarget {
  const match = /^(tcp\+tls|tcp|udp):\/\/(\[[0-9a-fA-F:]+\]|[^:/\s[\]]+):(\d{1,5})$/.exec(url);
  if (!match) throw new Error(`not a syslog URL: ${url}`);
  return {
    scheme: match[1] as SyslogTarget['scheme'],
    host: (match[2] ?? '').replace(/^\[|\]$/g, ''),
    port: Number(match[3]),
  };
}

/** RFC 5424 printable ASCII, no spaces: the header fields' alphabet. */
const field = (text: string, max: number) => text.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-';

/**
 * One record: `<PRI>1 TIMESTAMP HOSTNAME adnotify PROCID MSGID - MSG`, MSGID the event type,
 * MSG the event JSON. Changes to protected groups are warnings; the rest notices.
 */
export function syslogRecord(letter: Letter, host = hostname(), pid = process.pid): string {
  const severity = letter.protectedGroup === true ? WARNING : NOTICE;
  const at = new Date(letter.createdAt).toISOString();
  return `<${FACILITY * 8 + severity}>1 ${at} ${field(host, 255)} adnotify ${pid} ${field(letter.kind ?? 'event', 32)} - ${letter.text}`;
}

/** The most a UDP record may hold: what fits one datagram over IPv4 and IPv6 alike. */
export const UDP_MAX_BYTES = 65_000;

/**
 * A record too large for one datagram: the event's identity and what it is about, marked
 * truncated, so the SIEM still has it (and its id, to look it up with `history --json`). Sent
 * whole, it could never go, and every record after it would wait behind it.
 */
export function shortened(letter: Letter, bytes: number): Letter {
  let event: Record<string, unknown> = {};
  try {
    event = JSON.parse(letter.text) as Record<string, unknown>;
  } catch {
    // Not JSON: nothing of it is kept but its size.
  }
  const { id, cycle, at, type, object, actor } = event;
  return { ...letter, text: JSON.stringify({ id, cycle, at, type, object, actor, truncated: true, bytes }) };
}

export function syslogSink(url: string, caFile: string | null): Transport {
  const target = parseSyslogUrl(url);
  const where = `${target.scheme}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const service = `the syslog receiver at ${where}`;
  let stream: Socket | null = null;
  let datagrams: UdpSocket | null = null;
  const ca = caFile === null ? undefined : [readFileSync(caFile, 'utf8'), ...rootCertificates];

  const outage = (err: unknown): DeliveryError =>
    new DeliveryError(`${service} did not take the record: ${errorMessage(err)}`, 'unreachable', {
      cause: err,
    });

  const connected = (): Promise<Socket> => {
    if (stream !== null && !stream.destroyed && !stream.readableEnded) return Promise.resolve(stream);
    stream?.destroy();
    stream = null;
    return new Promise<Socket>((resolve, reject) => {
      const options = { host: target.host, port: target.port };
      const socket =
        target.scheme === 'tcp+tls'
          ? tlsConnect({
              ...options,
              ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
              ...(ca ? { ca } : {}),
            })
          : tcpConnect(options);
      const timer = setTimeout(() => {
        socket.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000}s`));
      }, CONNECT_TIMEOUT_MS);
      const ready = target.scheme === 'tcp+tls' ? 'secureConnect' : 'connect';
      socket.once(ready, () => {
        clearTimeout(timer);
        // A receiver says nothing back; what it sends is read and dropped.
        socket.on('data', () => undefined);
        socket.on('error', () => {
          socket.destroy();
        });
        stream = socket;
        resolve(socket);
      });
      socket.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  };

  const sendDatagram = (record: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const send = (socket: UdpSocket) => {
        socket.send(record, (err) => {
          if (err) reject(err);
          else resolve();
        });
      };
      if (datagrams !== null) {
        send(datagrams);
        return;
      }
      const socket = createSocket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
      socket.on('error', () => {
        socket.close();
        if (datagrams === socket) datagrams = null;
      });
      socket.connect(target.port, target.host, () => {
        datagrams = socket;
        send(socket);
      });
    });

  return {
    name: 'syslog',
    target: where,
    service,
    async send(letter) {
      let record = Buffer.from(syslogRecord(letter));
      if (target.scheme === 'udp' && record.length > UDP_MAX_BYTES) {
        record = Buffer.from(syslogRecord(shortened(letter, record.length)));
      }
      try {
        if (target.scheme === 'udp') {
          await sendDatagram(record);
        } else {
          const socket = await connected();
          // Octet counting: "LEN SP RECORD", LEN in bytes.
          const frame = Buffer.concat([Buffer.from(`${record.length} `), record]);
          await new Promise<void>((resolve, reject) => {
            socket.write(frame, (err) => {
              if (err) reject(err);
              else resolve();
            });
          });
        }
      } catch (err: unknown) {
        stream?.destroy();
        stream = null;
        datagrams?.close();
        datagrams = null;
        throw outage(err);
      }
      return { answer: `${record.length} bytes` };
    },
    async check() {
      if (target.scheme === 'udp') return `${service}: UDP sends without a connection; nothing to prove`;
      try {
        await connected();
      } catch (err: unknown) {
        throw outage(err);
      }
      return `${service}: connected${target.scheme === 'tcp+tls' ? ', certificate verified' : ''}`;
    },
    close() {
      stream?.end();
      stream = null;
      datagrams?.close();
      datagrams = null;
    },
  };
}

/** siem.file: one event JSON per line, appended; rotated to .1 .. .keep when full. */
export function fileSink(path: string, maxBytes: number, keep: number): Transport {
  const service = `the SIEM file ${path}`;
  const rotate = () => {
    rmSync(`${path}.${keep}`, { force: true });
    for (let n = keep - 1; n >= 1; n--) {
      if (existsSync(`${path}.${n}`)) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
    }
    renameSync(path, `${path}.1`);
  };
  return {
    name: 'file',
    target: path,
    service,
    send(letter) {
      const line = `${letter.text.replace(/\n/g, ' ')}\n`;
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
        const size = existsSync(path) ? statSync(path).size : 0;
        if (size > 0 && size + Buffer.byteLength(line) > maxBytes) rotate();
        appendFileSync(path, line, { mode: 0o640 });
      } catch (err: unknown) {
        throw new DeliveryError(`${service} could not be written: ${errorMessage(err)}`, 'unreachable', {
          cause: err,
        });
      }
      return Promise.resolve({ answer: 'appended' });
    },
    check() {
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
        appendFileSync(path, '', { mode: 0o640 });
      } catch (err: unknown) {
        return Promise.reject(
          new DeliveryError(`${service} cannot be written: ${errorMessage(err)}`, 'unreachable', {
            cause: err,
          }),
        );
      }
      return Promise.resolve(`${service}: writable`);
    },
    close() {
      // Nothing held open: each record is appended on its own.
    },
  };
}
