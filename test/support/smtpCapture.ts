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
  /** When the server accepted it (Date.now()). */
  acceptedAt: number;
}

export interface SmtpCaptureOptions {
  /** PEM key and certificate: offers STARTTLS (or implicit TLS with `secure`). */
  tls?: { key: Buffer; cert: Buffer };
  secure?: boolean;
  /** Require AUTH with exactly these credentials. */
  auth?: { user: string; pass: string };
  /** Require AUTH XOAUTH2 (as Exchange Online does): the mailbox and a token `valid` accepts. */
  xoauth2?: { user: string; valid: (token: string) => boolean };
  /** Listen on this port (to come back where a stopped capture was). default: any free port */
  port?: number;
  /** Refuse these recipients for good (550), as a server does for an unknown mailbox. */
  reject?: (address: string) => boolean;
  /** Refuse these recipients for now (451), as a greylisting server does. */
  defer?: (address: string) => boolean;
  /** Accept this many messages, then take the next one's data and never answer. */
  hangAfter?: number;
  /** Wait this long before accepting each message, as a busy server does. */
  delayMs?: number;
  /**
   * Accept this many logins, then refuse every one with this reply, given the password tried
   * (a careless server may quote it back).
   */
  refuseAfterLogins?: { logins: number; reply: (password: string) => string };
}

export class SmtpCapture {
  readonly messages: CapturedMail[];
  readonly #server: SMTPServer;
  #port = 0;

  readonly #hanging: { value: boolean };
  #stopped = false;

  private constructor(server: SMTPServer, messages: CapturedMail[], hanging: { value: boolean }) {
    this.#server = server;
    this.messages = messages;
    this.#hanging = hanging;
  }

  /** Who received what, in arrival order: "to,to: subject" a message. */
  inbox(): string[] {
    return this.messages.map((m) => `${m.to.join(',')}: ${m.parsed.subject ?? ''}`);
  }

  /** Who received what, sorted: "to: subject" a recipient. */
  byRecipient(): string[] {
    return this.messages.flatMap((m) => m.to.map((to) => `${to}: ${m.parsed.subject ?? ''}`)).sort();
  }

  /** True once a message's data was taken and left unanswered (hangAfter). */
  get hanging(): boolean {
    return this.#hanging.value;
  }

  static async start(options: SmtpCaptureOptions = {}): Promise<SmtpCapture> {
    const captured: CapturedMail[] = [];
    const hanging = { value: false };
    let logins = 0;
    const serverOptions: SMTPServerOptions = {
      secure: options.secure === true,
      disabledCommands: [
        ...(options.tls ? [] : ['STARTTLS']),
        ...(options.auth || options.xoauth2 ? [] : ['AUTH']),
      ],
      authOptional: options.auth === undefined && options.xoauth2 === undefined,
      ...(options.xoauth2 ? { authMethods: ['XOAUTH2'] } : {}),
      allowInsecureAuth: false,
      logger: false,
      // stop() does not wait long for clients still connected (a hung session, a killed process).
      closeTimeout: 200,
      ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
      onAuth(auth, _session, callback) {
        const refuse = options.refuseAfterLogins;
        if (refuse && logins++ >= refuse.logins) {
          callback(Object.assign(new Error(refuse.reply(auth.password ?? '')), { responseCode: 535 }));
          return;
        }
        if (options.xoauth2) {
          const ok =
            auth.method === 'XOAUTH2' &&
            auth.username === options.xoauth2.user &&
            options.xoauth2.valid(auth.accessToken ?? '');
          // Exchange Online answers a bad token with 535 5.7.3 Authentication unsuccessful.
          if (ok) callback(null, { user: auth.username });
          else callback(Object.assign(new Error('5.7.3 Authentication unsuccessful'), { responseCode: 535 }));
          return;
        }
        if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
          callback(null, { user: auth.username });
        } else {
          callback(new Error('Invalid username or password'));
        }
      },
      onRcptTo(address, _session, callback) {
        if (options.reject?.(address.address)) {
          const err = Object.assign(new Error(`5.1.1 <${address.address}>: mailbox unavailable`), {
            responseCode: 550,
          });
          callback(err);
          return;
        }
        if (options.defer?.(address.address)) {
          const err = Object.assign(new Error(`4.7.1 <${address.address}>: greylisted, try again later`), {
            responseCode: 451,
          });
          callback(err);
          return;
        }
        callback();
      },
      onData(stream, session, callback) {
        if (options.hangAfter !== undefined && captured.length >= options.hangAfter) {
          stream.resume();
          hanging.value = true;
          return; // never answers: the client waits for the reply to its DATA
        }
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          simpleParser(raw)
            .then((parsed) => {
              const from = session.envelope.mailFrom;
              const accept = () => {
                captured.push({
                  from: from === false ? null : from.address,
                  to: session.envelope.rcptTo.map((r) => r.address),
                  parsed,
                  raw,
                  acceptedAt: Date.now(),
                });
                callback();
              };
              if (options.delayMs === undefined) accept();
              else setTimeout(accept, options.delayMs);
            })
            .catch((err: unknown) => {
              callback(err instanceof Error ? err : new Error(String(err)));
            });
        });
      },
    };
    const server = new SMTPServer(serverOptions);
    // A client that gives up during the TLS handshake (an untrusted certificate) is an error
    // event on the server; without a listener it would be an uncaught exception.
    server.on('error', () => undefined);
    const capture = new SmtpCapture(server, captured, hanging);
    server.listen(options.port ?? 0, '127.0.0.1');
    await once(server.server, 'listening');
    capture.#port = (server.server.address() as AddressInfo).port;
    return capture;
  }

  get port(): number {
    return this.#port;
  }

  /** Stops listening; a second call does nothing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}
