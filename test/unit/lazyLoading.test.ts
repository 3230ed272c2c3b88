/**
 * What a daemon loads before it knows its config: never the Microsoft 365 token library or the
 * PostgreSQL client, which only a transport or a state backend that uses them loads (issue 25:
 * msal-node and what it brings cost a SQLite + SMTP daemon 20 MB of memory for nothing).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Packages (node_modules names) loaded by importing `module` in a fresh Node. */
function packagesLoadedBy(module: string): string[] {
  const hook = `
    import { registerHooks } from 'node:module';
    const seen = new Set();
    registerHooks({ load(url, context, next) {
      const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url);
      if (m) seen.add(m[1]);
      return next(url, context);
    } });
    process.on('exit', () => process.stdout.write(JSON.stringify([...seen])));`;
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      `data:text/javascript,${encodeURIComponent(hook)}`,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(module)});`,
    ],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as string[];
}

describe('modules loaded on demand', () => {
  it('the daemon loads neither msal-node nor pg until a config uses them', () => {
    const loaded = packagesLoadedBy('./src/main.ts');
    expect(loaded).toContain('ldapts'); // the hook sees what is loaded
    expect(loaded).toContain('nodemailer');
    expect(loaded).not.toContain('@azure/msal-node');
    expect(loaded).not.toContain('pg');
  });
});
