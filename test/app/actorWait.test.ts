/**
 * Waiting for an actor's audit record must not hold the state's write lock: SQLite on disk,
 * a second connection (another adnotify process: `temp cancel`, `outbox discard`) writing
 * while the cycle waits. The directory is the FakeDirectory.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { parseConfigText } from '../../src/config/load.js';
import { buildDeps } from '../../src/deps.js';
import { Renderer } from '../../src/mail/render.js';
import { runCycle } from '../../src/poll/cycle.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from '../support/cli.js';
import { A_SCHEDULE } from '../support/schedules.js';
import { sambaAuditLine } from '../support/auditLines.js';
import { BASE, FakeDirectory } from '../support/fakeDirectory.js';
import { quietLogger } from '../support/quietLogger.js';

function bed(waitSeconds: number) {
  const dir = tempDir();
  const audit = join(dir, 'audit.log');
  writeFileSync(audit, '');
  const { config } = parseConfigText(
    `version: 1
directory: { urls: ["ldaps://dc1.x.test"], bindDN: "CN=svc,${BASE}", bindPassword: "x", baseDN: "${BASE}",
  actor: { source: samba-audit, paths: [${JSON.stringify(audit)}], waitSeconds: ${waitSeconds} } }
smtp: { host: 127.0.0.1, from: "adnotify@x.test", to: [helpdesk@x.test] }
notify: { objectModified: true }
`,
    'app.yaml',
    {},
  );
  const path = join(dir, 'state.db');
  const store = SqliteStore.open(path);
  const directory = new FakeDirectory();
  const log = quietLogger();
  const deps = () =>
    buildDeps(
      { config, directory, store, clock: { now: () => new Date() }, renderer: Renderer.load(null), log },
      'test',
    );
  return { path, audit, store, directory, deps };
}

describe('waiting for an audit record (SQLite on disk)', () => {
  it('another process writes to the state while a cycle waits for its actor; the mail goes out after', async () => {
    const { path, store, directory, deps } = bed(6); // longer than the 5 s busy timeout
    const ann = directory.user('Ann');
    await runCycle(deps());
    directory.set(ann, { title: 'Nobody said' });

    const cycle = runCycle(deps());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const other = SqliteStore.open(path);
    try {
      // What `temp add` writes: it must not wait for the cycle, let alone fail busy.
      await other.schedules.add(A_SCHEDULE);
      // The cycle has committed its events; its mail waits for the actor.
      expect((await other.events.since('')).map((e) => e.type)).toEqual(['object.modified']);
      expect((await other.outbox.counts()).pending).toBe(0);
    } finally {
      await other.close();
    }
    const summary = await cycle;

    expect(summary.messages).toBe(2);
    expect((await store.events.since(''))[0]?.actor).toBeNull();
    expect((await store.outbox.list()).map((m) => m.subject)).toEqual([
      'Changes to user Ann',
      '[adnotify] Changes to user Ann',
    ]);
    await store.close();
  }, 20_000);

  it('a record that arrives while the cycle waits names the actor in the mail', async () => {
    const { audit, store, directory, deps } = bed(10);
    const olga = directory.user('Olga');
    const ann = directory.user('Ann');
    await runCycle(deps());
    directory.set(ann, { title: 'Engineer' });

    const cycle = runCycle(deps());
    setTimeout(() => {
      appendFileSync(
        audit,
        sambaAuditLine({ sid: directory.sidOf(olga), dn: ann.dn, attributes: ['title'] }),
      );
    }, 1500);
    await cycle;

    expect((await store.events.since(''))[0]?.actor).toMatchObject({ name: 'Olga' });
    expect((await store.outbox.list())[0]?.text).toContain('By: Olga');
    await store.close();
  }, 20_000);

  it('notifications left waiting by a stopped adnotify are queued by the next cycle', async () => {
    const { path, directory, deps, store } = bed(30);
    const ann = directory.user('Ann');
    await runCycle(deps());
    directory.set(ann, { title: 'Left waiting' });
    // Stopped mid-wait: the cycle committed, its notifications did not.
    void runCycle(deps()).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.close();

    const again = SqliteStore.open(path);
    const d = buildDeps({ ...deps(), store: again }, 'test');
    await runCycle(d);

    expect((await again.outbox.list()).map((m) => m.subject)).toEqual([
      'Changes to user Ann',
      '[adnotify] Changes to user Ann',
    ]);
    await again.close();
  }, 20_000);
});
