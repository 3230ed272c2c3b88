/**
 * An LDAPS proxy in front of the DC that counts the requests a client sends (an independent
 * measure of round trips, not adnotify's own counter) and can hold every request after the
 * Nth search, to stop a client in the middle of a cycle. It terminates TLS with the test
 * CA's server certificate (valid for 127.0.0.1) and speaks TLS to the DC, verified.
 */
import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, createServer } from 'node:tls';

import type { SambaInfo } from './samba.js';
import { listenOnLoopback } from './net.js';

/** LDAP protocolOp tags (RFC 4511, APPLICATION n). */
const OPS: Record<number, string> = {
  0x60: 'bind',
  0x42: 'unbind',
  0x63: 'search',
  0x66: 'modify',
  0x68: 'add',
  0x4a: 'delete',
  0x77: 'extended',
  0x50: 'abandon',
};

/** ModifyResponse: [APPLICATION 7], constructed. */
const MODIFY_RESPONSE = 0x67;

export class LdapProxy {
  readonly requests: string[] = [];
  /** Modify responses from the DC kept from the client (see {@link holdModifyResponses}). */
  heldModifyResponses = 0;
  #holdModifyResponses = false;
  #holdAfterSearches: number | undefined;
  #refuseNotifications = false;
  #held: (() => void)[] = [];
  /** Modify responses kept from the client, for {@link releaseAll}. */
  #heldAnswers: (() => void)[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** `certificate`: the name of another certificate in the test CA's directory (issueCertificate). */
  static async start(samba: SambaInfo, certificate = 'server'): Promise<LdapProxy> {
    const tls = join(samba.dir, 'test-tls');
    const server = createServer({
      cert: readFileSync(join(tls, `${certificate}.pem`)),
      key: readFileSync(join(tls, `${certificate}.key`)),
    });
    const proxy = new LdapProxy(server);
    const ca = readFileSync(samba.caFile);
    server.on('secureConnection', (client) => {
      proxy.#pipe(client, () => tlsConnect({ host: samba.ip, port: 636, ca }));
    });
    proxy.port = await listenOnLoopback(server);
    return proxy;
  }

  get url(): string {
    return `ldaps://127.0.0.1:${this.port}`;
  }

  /** Requests other than bind and unbind since the last reset. */
  get operations(): string[] {
    return this.requests.filter((op) => op !== 'bind' && op !== 'unbind');
  }

  reset(): void {
    this.requests.length = 0;
  }

  /** Forwards the first `n` searches, then holds every later request until {@link release}. */
  holdAfterSearches(n: number): void {
    this.#holdAfterSearches = n;
  }

  /** True once a request is being held. */
  get holding(): boolean {
    return this.#held.length > 0;
  }

  /**
   * From now on the DC's answer to a modify never reaches the client: the change is made in
   * the directory, and the client waits as if the answer were slow. To stop a client between
   * a directory write and what it does next.
   */
  holdModifyResponses(): void {
    this.#holdModifyResponses = true;
  }

  /**
   * From now on a search with the change-notification control is answered by the proxy with
   * unwillingToPerform (53), as a DC that refuses the control does; the DC never sees it.
   */
  refuseNotifications(): void {
    this.#refuseNotifications = true;
  }

  release(): void {
    this.#holdAfterSearches = undefined;
    for (const forward of this.#held.splice(0)) forward();
  }

  /** Holds nothing from now on, and forwards what it held, modify responses included. */
  releaseAll(): void {
    this.#holdModifyResponses = false;
    this.release();
    for (const forward of this.#heldAnswers.splice(0)) forward();
  }

  #pipe(client: Socket, open: () => Socket): void {
    const server = open();
    this.#sockets.add(client).add(server);
    const requests = new MessageSplitter();
    client.on('data', (chunk: Buffer) => {
      for (const message of requests.push(chunk)) {
        if (this.#refuseNotifications && message.includes(NOTIFICATION_OID)) {
          this.requests.push('search');
          client.write(searchDone(message, 53));
        } else this.#forward(message, server);
      }
    });
    const answers = new MessageSplitter();
    server.on('data', (chunk: Buffer) => {
      if (!this.#holdModifyResponses && answers.empty) {
        client.write(chunk);
        return;
      }
      for (const message of answers.push(chunk)) {
        if (this.#holdModifyResponses && protocolOpTag(message) === MODIFY_RESPONSE) {
          this.heldModifyResponses++;
          this.#heldAnswers.push(() => client.write(message));
        } else client.write(message);
      }
    });
    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on('close', close).on('error', close);
    server.on('close', close).on('error', close);
  }

  #forward(message: Buffer, server: Socket): void {
    const op = OPS[protocolOpTag(message)] ?? 'other';
    const searches = this.requests.filter((r) => r === 'search').length;
    const hold =
      this.#holdAfterSearches !== undefined && (searches >= this.#holdAfterSearches || this.holding);
    if (hold) {
      this.#held.push(() => {
        this.requests.push(op);
        server.write(message);
      });
      return;
    }
    this.requests.push(op);
    server.write(message);
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}

const NOTIFICATION_OID = Buffer.from('1.2.840.113556.1.4.528');

/** A SearchResultDone ([APPLICATION 5]) for `request`, with its messageID and `code`. */
function searchDone(request: Buffer, code: number): Buffer {
  const first = request[1] ?? 0;
  const offset = 2 + (first < 0x80 ? 0 : first & 0x7f);
  const id = request.subarray(offset, offset + 2 + (request[offset + 1] ?? 0));
  const result = Buffer.from([0x65, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00]);
  const body = Buffer.concat([id, result]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** Total size of the BER SEQUENCE at the start of `buf`, or undefined if not yet known. */
/** Cuts a TCP stream into whole LDAP messages (BER sequences), however it arrives. */
export class MessageSplitter {
  #pending = Buffer.alloc(0);

  /** Nothing is waiting for the rest of a message. */
  get empty(): boolean {
    return this.#pending.length === 0;
  }

  /** Adds a chunk; returns the messages it completes. */
  push(chunk: Buffer): Buffer[] {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    const messages: Buffer[] = [];
    for (;;) {
      const size = messageSize(this.#pending);
      if (size === undefined || this.#pending.length < size) break;
      messages.push(this.#pending.subarray(0, size));
      this.#pending = this.#pending.subarray(size);
    }
    return messages;
  }
}

export function messageSize(buf: Buffer): number | undefined {
  if (buf.length < 2) return undefined;
  const first = buf[1] ?? 0;
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  if (buf.length < 2 + count) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (buf[2 + i] ?? 0);
  return 2 + count + length;
}

/** The tag of the protocolOp: after the outer SEQUENCE header and the messageID INTEGER. */
export function protocolOpTag(message: Buffer): number {
  const first = message[1] ?? 0;
  let offset = 2 + (first < 0x80 ? 0 : first & 0x7f);
  const idLength = message[offset + 1] ?? 0;
  offset += 2 + idLength;
  return message[offset] ?? 0;
}
