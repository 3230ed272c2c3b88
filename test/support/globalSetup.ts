/**
 * One Samba AD DC for the whole test run (TECH-NOTES.md), provided to tests as
 * `inject('samba')`. Without Samba the integration tests skip loudly, except under
 * CI=true, where a missing Samba fails the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { sambaInstalled, startSamba, stopEverySamba, type SambaInfo } from './samba.js';

declare module 'vitest' {
  export interface ProvidedContext {
    samba: SambaInfo | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!sambaInstalled()) {
    const message =
      'Samba AD DC is not installed: the integration tests need it. Install it with\n' +
      '  apt-get update && apt-get install -y samba samba-ad-dc ldb-tools ldap-utils\n' +
      '(.ci/run does this).';
    if (process.env['CI'] === 'true') throw new Error(`${message}\nCI=true: failing instead of skipping.`);
    const bar = '!'.repeat(78);
    process.stderr.write(`\n${bar}\n${message}\nSKIPPING every test that needs a directory.\n${bar}\n\n`);
    project.provide('samba', null);
    return async () => {};
  }
  const dir = mkdtempSync(join(tmpdir(), 'adnotify-samba-'));
  const samba = await startSamba(dir);
  project.provide('samba', samba.info);
  return async () => {
    await samba.stop();
    await stopEverySamba(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}
