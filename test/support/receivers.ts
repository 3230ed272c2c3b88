/**
 * Loopback receivers for the channels, speaking the real protocols: an HTTPS (or HTTP)
 * endpoint that checks each payload as its service would (a Teams Workflows webhook takes an
 * Adaptive Card 1.4 in a message envelope; a Slack incoming webhook takes Block Kit within its
 * limits; a Standard Webhooks receiver verifies the signature with the library's verifier) and
 * answers as scripted; syslog receivers over TCP+TLS and TCP (octet counting) and UDP.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createTcp, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTls } from 'node:tls';

import { Webhook } from 'standardwebhooks';

import { tempDir } from './cli.js';
import { listenOnLoopback } from './net.js';
import { issueCertificate, makeCa } from './samba.js';

export interface TestCa {
  caFile: string;
  cert: Buffer;
  key: Buffer;
}

/** A CA and a certificate for 127.0.0.1 from it. */
export function loopbackCertificate(): TestCa {
  const dir = tempDir('adnotify-channels-tls-');
  makeCa(dir, 'ca', 'adnotify test channels CA');
  const { cert, key } = issueCertificate(dir, 'receiver', 'IP:127.0.0.1,DNS:localhost');
  return { caFile: join(dir, 'ca.pem'), cert: readFileSync(cert), key: readFileSync(key) };
}

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver found wrong with the payload, as its service would refuse it. */
  problems: string[];
}

export type Kind = 'teams' | 'slack' | 'webhook';

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export class ChannelReceiver {
  readonly received: Received[] = [];
  /** Answers for the next requests, in order; then 2xx (202 Teams, 200 "ok" Slack, 204 webhook). */
  readonly answers: Answer[] = [];
  /** While set, requests are taken and never answered (a service that hangs mid-request). */
  hang = false;
  readonly #server: HttpServer;
  port = 0;

  private constructor(
    readonly kind: Kind,
    server: HttpServer,
    readonly secret: string | null,
  ) {
    this.#server = server;
  }

  static async start(kind: Kind, options: { tls?: TestCa; secret?: string } = {}): Promise<ChannelReceiver> {
    const self: { receiver?: ChannelReceiver } = {};
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        self.receiver?.take(req, Buffer.concat(chunks).toString('utf8'), res);
      });
    };
    const server = options.tls
      ? createHttps({ cert: options.tls.cert, key: options.tls.key }, handler)
      : createHttp(handler);
    const receiver = new ChannelReceiver(kind, server, options.secret ?? null);
    self.receiver = receiver;
    receiver.port = await listenOnLoopback(server);
    return receiver;
  }

  /** The URL to configure, with a token in its path as the services give them. */
  url(scheme: 'https' | 'http' = 'https'): string {
    return `${scheme}://127.0.0.1:${this.port}/hooks/T0KEN-${this.kind}-s3cr3t-path`;
  }

  /** The payloads received, parsed. */
  bodies<T = unknown>(): T[] {
    return this.received.map((r) => JSON.parse(r.body) as T);
  }

  /** @internal */
  take(
    req: import('node:http').IncomingMessage,
    body: string,
    res: import('node:http').ServerResponse,
  ): void {
    const problems = this.#check(req.headers, body);
    this.received.push({ path: req.url ?? '', headers: req.headers, body, problems });
    if (this.hang) return;
    const scripted = this.answers.shift();
    if (scripted) {
      res.writeHead(scripted.status, scripted.headers ?? {});
      res.end(scripted.body ?? '');
      return;
    }
    if (problems.length > 0) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`invalid_payload: ${problems.join('; ')}`);
      return;
    }
    const ok: Record<Kind, Answer> = {
      teams: { status: 202 },
      slack: { status: 200, body: 'ok' },
      webhook: { status: 204 },
    };
    res.writeHead(ok[this.kind].status);
    res.end(ok[this.kind].body ?? '');
  }

  #check(headers: IncomingHttpHeaders, body: string): string[] {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return ['not JSON'];
    }
    if (this.kind === 'teams') return teamsProblems(json);
    if (this.kind === 'slack') return slackProblems(json);
    try {
      new Webhook(this.secret ?? '').verify(body, headers as Record<string, string>);
      return [];
    } catch (err: unknown) {
      return [`signature: ${(err as Error).message}`];
    }
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.#server.close(() => {
        resolve();
      }),
    );
  }
}

const CARD_ELEMENTS = new Set(['TextBlock', 'RichTextBlock', 'FactSet', 'ColumnSet', 'Container']);

/** What Teams' Workflows webhook would refuse, and what would render a value as Markdown. */
export function teamsProblems(json: unknown): string[] {
  const problems: string[] = [];
  const m = json as {
    type?: string;
    attachments?: { contentType?: string; content?: Record<string, unknown> }[];
  };
  if (m.type !== 'message') problems.push('type is not "message"');
  const attachment = m.attachments?.[0];
  if (m.attachments?.length !== 1 || attachment?.contentType !== 'application/vnd.microsoft.card.adaptive') {
    problems.push('expected one attachment of contentType application/vnd.microsoft.card.adaptive');
  }
  const card = attachment?.content as
    { type?: string; version?: string; body?: { type: string }[] } | undefined;
  if (card?.type !== 'AdaptiveCard') problems.push('content.type is not AdaptiveCard');
  if (card?.version !== '1.4') problems.push(`version ${String(card?.version)} is not 1.4`);
  if (!Array.isArray(card?.body) || card.body.length === 0) problems.push('empty body');
  for (const element of card?.body ?? []) {
    if (!CARD_ELEMENTS.has(element.type)) problems.push(`unknown element ${element.type}`);
    const inlines = (element as { inlines?: { type: string }[] }).inlines;
    if (element.type === 'RichTextBlock' && !inlines?.every((i) => i.type === 'TextRun')) {
      problems.push('RichTextBlock inline that is not a TextRun');
    }
  }
  if (Buffer.byteLength(JSON.stringify(json)) > 28 * 1024) problems.push('over 28 KB');
  return problems;
}

const SLACK_BLOCKS = new Set(['header', 'section', 'context', 'divider']);

/** What Slack would refuse (types, limits), and any unescaped `<`, `>` or `&`. */
export function slackProblems(json: unknown): string[] {
  const problems: string[] = [];
  const m = json as {
    text?: unknown;
    blocks?: { type: string; text?: { type: string; text: string }; elements?: { text: string }[] }[];
  };
  if (typeof m.text !== 'string' || m.text.length === 0) problems.push('no text fallback');
  if (!Array.isArray(m.blocks)) return [...problems, 'no blocks'];
  if (m.blocks.length > 50) problems.push(`${m.blocks.length} blocks (at most 50)`);
  for (const block of m.blocks) {
    if (!SLACK_BLOCKS.has(block.type)) problems.push(`unknown block ${block.type}`);
    if (block.type === 'header' && (block.text?.type !== 'plain_text' || block.text.text.length > 150)) {
      problems.push('header must be plain_text of at most 150 characters');
    }
    if (block.type === 'section' && (block.text?.text.length ?? 0) > 3000)
      problems.push('section text over 3000');
  }
  const strings: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(json);
  for (const s of strings) {
    if (/[<>]/.test(s) || /&(?!amp;|lt;|gt;)/.test(s))
      problems.push(`unescaped &, < or > in ${JSON.stringify(s.slice(0, 80))}`);
  }
  return problems;
}

export interface SyslogRecord {
  pri: number;
  timestamp: string;
  hostname: string;
  app: string;
  procid: string;
  msgid: string;
  msg: string;
}

/** `<PRI>1 TIMESTAMP HOSTNAME APP PROCID MSGID - MSG` (RFC 5424, no structured data). */
export function parseSyslog(record: string): SyslogRecord {
  const match = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) - (.*)$/s.exec(record);
  if (!match) throw new Error(`not an RFC 5424 record: ${record.slice(0, 120)}`);
  const [, pri, timestamp, hostname, app, procid, msgid, msg] = match as unknown as string[];
  return {
    pri: Number(pri),
    timestamp: timestamp!,
    hostname: hostname!,
    app: app!,
    procid: procid!,
    msgid: msgid!,
    msg: msg!,
  };
}

/** A syslog receiver: TCP+TLS or TCP with octet counting (RFC 5425/6587), or UDP datagrams. */
export class SyslogReceiver {
  readonly records: string[] = [];
  /** Frames that were not "LEN SP RECORD" with LEN the record's bytes. */
  readonly badFrames: string[] = [];
  port = 0;
  readonly sockets = new Set<Socket>();

  private constructor(
    readonly scheme: 'tcp+tls' | 'tcp' | 'udp',
    private readonly server: TcpServer | UdpSocket,
  ) {}

  static async start(scheme: 'tcp+tls' | 'tcp' | 'udp', tls?: TestCa, port = 0): Promise<SyslogReceiver> {
    if (scheme === 'udp') {
      const socket = createSocket('udp4');
      const receiver = new SyslogReceiver(scheme, socket);
      socket.on('message', (msg) => receiver.records.push(msg.toString('utf8')));
      await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
      receiver.port = socket.address().port;
      return receiver;
    }
    const self: { receiver?: SyslogReceiver } = {};
    const onConnection = (socket: Socket) => {
      const receiver = self.receiver;
      if (!receiver) return;
      receiver.sockets.add(socket);
      socket.on('close', () => receiver.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const space = buffer.indexOf(0x20);
          if (space < 0) return;
          const length = Number(buffer.subarray(0, space).toString());
          if (!Number.isInteger(length) || length <= 0) {
            receiver.badFrames.push(buffer.toString('utf8', 0, 80));
            buffer = Buffer.alloc(0);
            return;
          }
          if (buffer.length < space + 1 + length) return;
          receiver.records.push(buffer.toString('utf8', space + 1, space + 1 + length));
          buffer = buffer.subarray(space + 1 + length);
        }
      });
    };
    const server =
      scheme === 'tcp+tls' && tls
        ? createTls({ cert: tls.cert, key: tls.key }, onConnection)
        : createTcp(onConnection);
    const receiver = new SyslogReceiver(scheme, server);
    self.receiver = receiver;
    if (port === 0) receiver.port = await listenOnLoopback(server);
    else {
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      receiver.port = port;
    }
    return receiver;
  }

  url(): string {
    return `${this.scheme}://127.0.0.1:${this.port}`;
  }

  parsed(): SyslogRecord[] {
    return this.records.map(parseSyslog);
  }

  async stop(): Promise<void> {
    if (this.scheme === 'udp') {
      await new Promise<void>((resolve) =>
        (this.server as UdpSocket).close(() => {
          resolve();
        }),
      );
      return;
    }
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) =>
      (this.server as TcpServer).close(() => {
        resolve();
      }),
    );
  }
}
