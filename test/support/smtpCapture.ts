/**
 * A real SMTP server (smtp-server) on loopback, port 0, that records each message's
 * envelope and parsed content. Optional STARTTLS and AUTH, to test those paths.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface CapturedMail {
  from: string | null;
  to: string[];
  parsed: ParsedMail;
  raw: string;
}

export interface SmtpCaptureOptions {
  /** PEM key and certificate: offers STARTTLS (or implicit TLS with `secure`). */
  tls?: { key: Buffer; cert: Buffer };
  secure?: boolean;
  /** Require AUTH with exactly these credentials. */
  auth?: { user: string; pass: string };
}

export class SmtpCapture {
  readonly messages: CapturedMail[];
  readonly #server: SMTPServer;
  #port = 0;

  private constructor(server: SMTPServer, messages: CapturedMail[]) {
    this.#server = server;
    this.messages = messages;
  }

  static async start(options: SmtpCaptureOptions = {}): Promise<SmtpCapture> {
    const captured: CapturedMail[] = [];
    const serverOptions: SMTPServerOptions = {
      secure: options.secure === true,
      disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
      authOptional: options.auth === undefined,
      allowInsecureAuth: false,
      logger: false,
      ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
      onAuth(auth, _session, callback) {
        if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
          callback(null, { user: auth.username });
        } else {
          callback(new Error('Invalid username or password'));
        }
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          simpleParser(raw)
            .then((parsed) => {
              const from = session.envelope.mailFrom;
              captured.push({
                from: from === false ? null : from.address,
                to: session.envelope.rcptTo.map((r) => r.address),
                parsed,
                raw,
              });
              callback();
            })
            .catch((err: unknown) => {
              callback(err instanceof Error ? err : new Error(String(err)));
            });
        });
      },
    };
    const server = new SMTPServer(serverOptions);
    const capture = new SmtpCapture(server, captured);
    server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    capture.#port = (server.server.address() as AddressInfo).port;
    return capture;
  }

  get port(): number {
    return this.#port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}
