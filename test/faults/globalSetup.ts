/**
 * The fault suite's own Samba AD DC (its scenarios stop, slow down and restart it, so it
 * cannot be the one the integration tests share), and the summary: each scenario records
 * what it injected and what arrived, and the table is printed when the run ends.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { sambaInstalled, startSamba, stopEverySamba } from '../support/samba.js';
import { formatSummary, type ScenarioSummary } from './summary.js';

declare module 'vitest' {
  export interface ProvidedContext {
    faultsSummary: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const work = mkdtempSync(join(tmpdir(), 'adnotify-faults-'));
  const summaryFile = join(work, 'summary.jsonl');
  project.provide('faultsSummary', summaryFile);
  const printSummary = () => {
    let lines: string[] = [];
    try {
      lines = readFileSync(summaryFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      // no scenario ran
    }
    const rows = lines.map((l) => JSON.parse(l) as ScenarioSummary);
    process.stdout.write(`\n${formatSummary(rows)}\n`);
  };
  if (!sambaInstalled()) {
    const message =
      'Samba AD DC is not installed: the fault suite needs it. Install it with\n' +
      '  apt-get update && apt-get install -y samba samba-ad-dc ldb-tools ldap-utils';
    if (process.env['CI'] === 'true') throw new Error(`${message}\nCI=true: failing instead of skipping.`);
    const bar = '!'.repeat(78);
    process.stderr.write(`\n${bar}\n${message}\nSKIPPING every fault scenario.\n${bar}\n\n`);
    project.provide('samba', null);
    return () => {
      rmSync(work, { recursive: true, force: true });
      return Promise.resolve();
    };
  }
  const dir = join(work, 'dc');
  mkdirSync(dir);
  const samba = await startSamba(dir);
  project.provide('samba', samba.info);
  return async () => {
    printSummary();
    // A scenario may have stopped the DC and started it again: stop whichever is running,
    // and wait until it has, before its directory goes.
    await samba.stop();
    await stopEverySamba(dir);
    rmSync(work, { recursive: true, force: true });
  };
}
