/**
 * The app layer on in-memory ports: a FakeDirectory, a MemoryStore, the real renderer and a
 * clock the test moves. No Samba, no SQLite file, no SMTP: the Samba suite proves the
 * adapters; this proves what the cycle, the notifications and the jobs do with them.
 */
import { PassThrough } from 'node:stream';

import { parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { buildDeps, type Deps } from '../../src/deps.js';
import { createLogger } from '../../src/log/logger.js';
import { Renderer } from '../../src/mail/render.js';
import { MemoryStore } from '../../src/store/memory/store.js';
import { BASE, FakeDirectory } from './fakeDirectory.js';

export interface AppBed {
  directory: FakeDirectory;
  store: MemoryStore;
  config: Config;
  /** The clock the deps read; move it with `at`. */
  now: Date;
  deps(component?: string): Deps;
  /** Every queued message as "to: subject", in outbox order. */
  mail(): Promise<string[]>;
  /** What was logged, one JSON object per line. */
  logged(): string;
}

/**
 * `yaml` is appended to a minimal config (top-level sections only, e.g. "notify: {...}");
 * `directory` to the directory section's flow mapping (e.g. 'actor: { source: samba-audit }').
 */
export function appBed(yaml = '', directory = ''): AppBed {
  const { config } = parseConfigText(
    `version: 1
directory: { urls: ["ldaps://dc1.x.test"], bindDN: "CN=svc,${BASE}", bindPassword: "x", baseDN: "${BASE}"${directory ? `, ${directory}` : ''} }
smtp: { host: 127.0.0.1, from: "adnotify@x.test", to: [helpdesk@x.test] }
${yaml}
`,
    'app.yaml',
    {},
  );
  const stream = new PassThrough();
  let logged = '';
  stream.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const log = createLogger({ level: 'debug', format: 'json', file: null, secrets: [], stream });
  const renderer = Renderer.load(null);
  const bed: AppBed = {
    directory: new FakeDirectory(),
    store: new MemoryStore(),
    config,
    now: new Date('2026-12-01T08:00:00Z'),
    deps: (component = 'test') =>
      buildDeps(
        { config, directory: bed.directory, store: bed.store, clock: { now: () => bed.now }, renderer, log },
        component,
      ),
    mail: async () =>
      (await bed.store.outbox.list()).map(
        (m) => `${[...m.envelope.to, ...m.envelope.cc].join(',')}: ${m.subject}`,
      ),
    logged: () => logged,
  };
  return bed;
}
