/**
 * A loopback LDAP server (RFC 4511 over plain TCP) that accepts every simple bind and answers
 * every modify with the result it is given. For what Samba cannot show: how adnotify takes the
 * answers of a Windows DC, which words some outcomes differently (53 "00000561" where Samba
 * says 16, for a member already gone).
 */
import { createServer, type Server, type Socket } from 'node:net';

import { MessageSplitter, protocolOpTag } from './ldapProxy.js';
import { listenOnLoopback } from './net.js';

export interface LdapResult {
  code: number;
  message: string;
}

const BIND_REQUEST = 0x60;
const UNBIND_REQUEST = 0x42;
const MODIFY_REQUEST = 0x66;
const BIND_RESPONSE = 0x61;
const MODIFY_RESPONSE = 0x67;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

const tlv = (tag: number, value: Buffer) => Buffer.concat([Buffer.from([tag]), length(value.length), value]);

function response(messageId: Buffer, op: number, result: LdapResult): Buffer {
  const body = Buffer.concat([
    tlv(0x0a, Buffer.from([result.code])),
    tlv(0x04, Buffer.alloc(0)),
    tlv(0x04, Buffer.from(result.message, 'utf8')),
  ]);
  return tlv(0x30, Buffer.concat([tlv(0x02, messageId), tlv(op, body)]));
}

/** The messageID INTEGER's content bytes, after the outer SEQUENCE header. */
function messageIdOf(message: Buffer): Buffer {
  const first = message[1] ?? 0;
  const offset = 2 + (first < 0x80 ? 0 : first & 0x7f);
  const idLength = message[offset + 1] ?? 0;
  return message.subarray(offset + 2, offset + 2 + idLength);
}

export class LdapResponder {
  /** The result every modify gets; change it between requests. */
  modifyResult: LdapResult;
  readonly requests: string[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  private constructor(server: Server, modifyResult: LdapResult) {
    this.#server = server;
    this.modifyResult = modifyResult;
  }

  static async start(modifyResult: LdapResult): Promise<LdapResponder> {
    const server = createServer();
    const responder = new LdapResponder(server, modifyResult);
    server.on('connection', (socket) => {
      responder.#serve(socket);
    });
    responder.port = await listenOnLoopback(server);
    return responder;
  }

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const requests = new MessageSplitter();
    socket.on('data', (chunk: Buffer) => {
      for (const message of requests.push(chunk)) {
        const op = protocolOpTag(message);
        const id = messageIdOf(message);
        if (op === BIND_REQUEST) {
          this.requests.push('bind');
          socket.write(response(id, BIND_RESPONSE, { code: 0, message: '' }));
        } else if (op === MODIFY_REQUEST) {
          this.requests.push('modify');
          socket.write(response(id, MODIFY_RESPONSE, this.modifyResult));
        } else if (op === UNBIND_REQUEST) {
          socket.end();
        } else {
          this.requests.push(`other:${op.toString(16)}`);
          socket.destroy();
        }
      }
    });
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
