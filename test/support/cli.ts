/**
 * Running adnotify's command line in-process (main() with captured streams) and writing
 * a config file that points at the test DC and an SMTP capture.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { inject } from 'vitest';

import { main } from '../../src/main.js';
import type { SambaInfo } from './samba.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const out = sink();
  const err = sink();
  const code = await main(args, { stdout: out.stream, stderr: err.stream, env: { ...env } });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** The DC of this run, or null when Samba is missing (tests then skip; CI fails earlier). */
export function sambaOrNull(): SambaInfo | null {
  return inject('samba');
}

export function tempDir(prefix = 'adnotify-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestConfigOptions {
  baseDN: string;
  urls?: string[];
  caFile?: string | null;
  bindDN?: string;
  /** Written as "${env:TEST_BIND_PASSWORD}"; pass the value in the env. */
  smtpPort?: number;
  /** directory.timeoutSeconds. default: 10 */
  timeoutSeconds?: number;
  extra?: string;
  directoryExtra?: string;
  /** Lines inside the smtp: block, e.g. "  to: [helpdesk@example.test]". */
  smtpExtra?: string;
  /** smtp.requireTls. default: false (the capture speaks plain SMTP unless given TLS) */
  smtpRequireTls?: boolean;
  /** logging.file. default: none */
  logFile?: string;
  /** Lines inside the state: block, e.g. '  backend: postgres\n  url: "${env:TEST_PG_URL}"'. */
  stateExtra?: string;
  /** directory.bindPassword as written in YAML. default: "${env:TEST_BIND_PASSWORD}" */
  bindPassword?: string;
}

/** Writes adnotify.yaml in `dir`; the bind password comes from $TEST_BIND_PASSWORD. */
export function writeConfig(dir: string, samba: SambaInfo, options: TestConfigOptions): string {
  const file = join(dir, 'adnotify.yaml');
  const caFile = options.caFile === undefined ? samba.caFile : options.caFile;
  writeFileSync(
    file,
    `version: 1
directory:
  urls: ${JSON.stringify(options.urls ?? [samba.url])}
  tls:
    caFile: ${caFile === null ? 'null' : JSON.stringify(caFile)}
  bindDN: ${JSON.stringify(options.bindDN ?? samba.bindDN)}
  bindPassword: ${options.bindPassword ?? '"${env:TEST_BIND_PASSWORD}"'}
  baseDN: ${JSON.stringify(options.baseDN)}
  timeoutSeconds: ${options.timeoutSeconds ?? 10}
${options.directoryExtra ?? ''}
state:
  path: ${JSON.stringify(join(dir, 'state', 'adnotify.db'))}
${options.stateExtra ?? ''}
smtp:
  host: 127.0.0.1
  port: ${options.smtpPort ?? 2525}
  requireTls: ${options.smtpRequireTls ?? false}
  from: "adnotify <adnotify@example.test>"
${options.smtpExtra ?? ''}
logging:
  level: debug
  format: json
${options.logFile ? `  file: ${JSON.stringify(options.logFile)}\n` : ''}${options.extra ?? ''}
`,
  );
  return file;
}

/** A name unique to this test, for its own OU. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
