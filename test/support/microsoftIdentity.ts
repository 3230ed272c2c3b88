/**
 * The Microsoft identity platform on loopback HTTPS, as much of it as the client-credentials
 * flow uses: the tenant's OpenID configuration and its v2.0 token endpoint, issuing
 * JWT-shaped tokens with an expiry to one app registration, which proves itself with its
 * client secret or with a client assertion signed by the key of its registered certificate
 * (PS256, x5t#S256, as msal-node sends it; the signature is verified). Its
 * certificate comes from a test CA that a client trusts through NODE_EXTRA_CA_CERTS, as an
 * administrator's machine trusts a TLS-inspecting proxy.
 */
import { constants, randomBytes, randomUUID, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';

import { simpleParser, type ParsedMail } from 'mailparser';

import { tempDir } from './cli.js';
import { listenOnLoopback } from './net.js';
import { issueCertificate, makeCa } from './samba.js';

export interface IssuedToken {
  token: string;
  scope: string;
  expiresAt: number;
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

export class MicrosoftIdentity {
  readonly tenantId = '11111111-2222-4333-8444-555555555555';
  readonly clientId = '66666666-7777-4888-9999-000000000000';
  readonly clientSecret = `test-secret-${randomBytes(8).toString('hex')}`;
  /** The CA file to put in NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  readonly issued: IssuedToken[] = [];
  /** Seconds each token lives. */
  lifetime = 3600;
  /** Requests refused for a wrong secret or certificate. */
  refused = 0;
  /** The certificate registered to the app (PEM), for client assertions; none by default. */
  certificate: string | null = null;
  /** How each granted request proved itself. */
  readonly credentials: ('secret' | 'certificate')[] = [];
  readonly #server: Server;
  #port = 0;
  /** The loopback certificate (from the test CA), for other Microsoft endpoints (Graph). */
  readonly tls: { cert: Buffer; key: Buffer };

  private constructor(server: Server, caFile: string, tls: { cert: Buffer; key: Buffer }) {
    this.#server = server;
    this.caFile = caFile;
    this.tls = tls;
  }

  static async start(): Promise<MicrosoftIdentity> {
    const dir = tempDir('adnotify-entra-');
    makeCa(dir, 'ca', 'adnotify test identity CA');
    const { cert, key } = issueCertificate(dir, 'login', 'IP:127.0.0.1,DNS:localhost');
    const tls = { cert: readFileSync(cert), key: readFileSync(key) };
    const server = createServer(tls);
    const identity = new MicrosoftIdentity(server, join(dir, 'ca.pem'), tls);
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const reply = identity.#answer(req.method ?? 'GET', req.url ?? '/', body);
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply.json));
      });
    });
    identity.#port = await listenOnLoopback(server);
    return identity;
  }

  /** microsoft365.authorityHost for this server. */
  get authorityHost(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  /**
   * The config's `microsoft365:` block for this app, its secret from $TEST_CLIENT_SECRET
   * unless `credential` gives other lines (a certificate); `graph` sets graphBaseUrl.
   */
  configBlock(options: { credential?: string | undefined; graph?: MicrosoftGraph } = {}): string {
    return `microsoft365:
  tenantId: "${this.tenantId}"
  clientId: "${this.clientId}"
  ${options.credential ?? 'clientSecret: "${env:TEST_CLIENT_SECRET}"'}
  authorityHost: "${this.authorityHost}"
${options.graph ? `  graphBaseUrl: "${options.graph.baseUrl}"\n` : ''}`;
  }

  /** Whether `token` was issued here and has not expired. */
  valid(token: string): boolean {
    return this.issued.some((t) => t.token === token && t.expiresAt > Date.now());
  }

  #answer(method: string, url: string, body: string): { status: number; json: object } {
    const base = `${this.authorityHost}/${this.tenantId}`;
    const path = new URL(url, this.authorityHost).pathname;
    if (method === 'GET' && path === `/${this.tenantId}/v2.0/.well-known/openid-configuration`) {
      return {
        status: 200,
        json: {
          token_endpoint: `${base}/oauth2/v2.0/token`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          issuer: `${base}/v2.0`,
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          token_endpoint_auth_methods_supported: [
            'client_secret_post',
            'private_key_jwt',
            'client_secret_basic',
          ],
        },
      };
    }
    if (method === 'POST' && path === `/${this.tenantId}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'client_credentials' || form.get('client_id') !== this.clientId) {
        return {
          status: 400,
          json: { error: 'unauthorized_client', error_description: 'AADSTS700016: Application not found.' },
        };
      }
      const assertion = form.get('client_assertion');
      const proof = assertion === null ? this.#secretProof(form) : this.#assertionProof(assertion);
      if (typeof proof === 'string') {
        this.refused++;
        return { status: 401, json: { error: 'invalid_client', error_description: proof } };
      }
      this.credentials.push(proof.kind);
      const scope = form.get('scope') ?? '';
      const now = Math.floor(Date.now() / 1000);
      const token = [
        b64({ typ: 'JWT', alg: 'RS256' }),
        b64({
          aud: scope.split(' ')[0],
          iss: `${base}/v2.0`,
          tid: this.tenantId,
          appid: this.clientId,
          iat: now,
          exp: now + this.lifetime,
        }),
        randomBytes(32).toString('base64url'),
      ].join('.');
      this.issued.push({ token, scope, expiresAt: (now + this.lifetime) * 1000 });
      return {
        status: 200,
        json: {
          token_type: 'Bearer',
          expires_in: this.lifetime,
          ext_expires_in: this.lifetime,
          access_token: token,
        },
      };
    }
    return { status: 404, json: { error: 'not_found' } };
  }

  /** The client secret's proof, or why it is refused (AADSTS text). */
  #secretProof(form: URLSearchParams): { kind: 'secret' } | string {
    return form.get('client_secret') === this.clientSecret
      ? { kind: 'secret' }
      : 'AADSTS7000215: Invalid client secret provided.';
  }

  /**
   * A client assertion's proof: a JWT for this token endpoint, from this app, unexpired,
   * naming the registered certificate by its SHA-256 thumbprint and signed (PS256) by its key.
   */
  #assertionProof(assertion: string): { kind: 'certificate' } | string {
    const [head = '', body = '', signature = ''] = assertion.split('.');
    const decode = (part: string) =>
      JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
    const header = decode(head);
    const claims = decode(body);
    if (this.certificate === null) return 'AADSTS700027: No certificate is registered to the application.';
    const registered = new X509Certificate(this.certificate);
    const thumbprint = Buffer.from(registered.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
    if (header['alg'] !== 'PS256' || header['x5t#S256'] !== thumbprint) {
      return 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.';
    }
    const signed = verify(
      'sha256',
      Buffer.from(`${head}.${body}`),
      { key: registered.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      Buffer.from(signature, 'base64url'),
    );
    if (!signed) return 'AADSTS700027: Client assertion failed signature validation.';
    const now = Date.now() / 1000;
    const audience = `${this.authorityHost}/${this.tenantId}/oauth2/v2.0/token`;
    if (claims['aud'] !== audience || claims['iss'] !== this.clientId || claims['sub'] !== this.clientId) {
      return 'AADSTS700027: Client assertion contains an invalid audience, issuer or subject.';
    }
    if (typeof claims['exp'] !== 'number' || claims['exp'] < now) {
      return 'AADSTS700024: Client assertion is not within its valid time range.';
    }
    return { kind: 'certificate' };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
      this.#server.closeAllConnections();
    });
  }
}

export interface GraphMessage {
  sender: string;
  parsed: ParsedMail;
  raw: string;
}

/**
 * Microsoft Graph's sendMail on loopback HTTPS: checks the bearer token (issued by `identity`
 * for the Graph scope), takes the MIME body, and answers 202 with a request-id, or what the
 * test queued (429 with Retry-After, 401, 403, 400 ErrorInvalidRecipients).
 */
export class MicrosoftGraph {
  readonly messages: GraphMessage[] = [];
  /** Answers to give before the 202s, in order. */
  readonly next: { status: number; code?: string; retryAfter?: number }[] = [];
  readonly #server: Server;
  #port = 0;
  requests = 0;
  /** While true, every request's connection is dropped unanswered: Graph cannot be reached. */
  down = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(identity: MicrosoftIdentity): Promise<MicrosoftGraph> {
    const server = createServer(identity.tls);
    const graph = new MicrosoftGraph(server);
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        if (graph.down) {
          req.socket.destroy();
          return;
        }
        graph.requests++;
        const send = (status: number, json?: object, headers: Record<string, string> = {}) => {
          res.writeHead(status, {
            'request-id': randomUUID(),
            ...headers,
            ...(json ? { 'content-type': 'application/json' } : {}),
          });
          res.end(json ? JSON.stringify(json) : undefined);
        };
        const match = /^\/v1\.0\/users\/([^/]+)\/sendMail$/.exec(req.url ?? '');
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        const scoped = identity.issued.some(
          (t) => t.token === token && t.scope === `${graph.baseUrl}/.default`,
        );
        if (req.method !== 'POST' || !match) {
          send(404, { error: { code: 'ResourceNotFound' } });
          return;
        }
        if (!identity.valid(token) || !scoped) {
          send(401, { error: { code: 'InvalidAuthenticationToken' } });
          return;
        }
        const queued = graph.next.shift();
        if (queued) {
          send(
            queued.status,
            { error: { code: queued.code ?? 'Error', message: 'queued by the test' } },
            queued.retryAfter ? { 'retry-after': String(queued.retryAfter) } : {},
          );
          return;
        }
        const raw = Buffer.from(body, 'base64').toString('utf8');
        simpleParser(raw).then(
          (parsed) => {
            graph.messages.push({ sender: decodeURIComponent(match[1] ?? ''), parsed, raw });
            send(202);
          },
          () => {
            send(400, { error: { code: 'ErrorMimeContentInvalid' } });
          },
        );
      });
    });
    graph.#port = await listenOnLoopback(server);
    return graph;
  }

  /** microsoft365.graphBaseUrl for this server. */
  get baseUrl(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
      this.#server.closeAllConnections();
    });
  }
}
