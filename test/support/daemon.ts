/**
 * `adnotify run` as a child process, its JSON log lines parsed as they come, for the tests
 * that need the daemon itself: signals, schedules, kills, outages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { listenOnLoopback } from './net.js';

export type LogLine = Record<string, unknown>;

export interface Running {
  child: ChildProcess;
  lines: () => LogLine[];
  /** Everything the process wrote, stdout and stderr, as text. */
  output: () => string;
  /** Waits for a log line matching `predicate`, among the lines from index `from` on. */
  waitFor: (
    predicate: (line: LogLine) => boolean,
    what: string,
    ms?: number,
    from?: number,
  ) => Promise<LogLine>;
  /** The index the next log line will have. */
  mark: () => number;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/**
 * Starts `adnotify --config <config> run`: from the sources through tsx by default, or the
 * built executable (`dist/bin.js`, with the V8 flags of its shebang) as a user runs it.
 */
export function startDaemon(
  config: string,
  env: NodeJS.ProcessEnv,
  options: { built?: boolean; nodeFlags?: string[]; args?: string[] } = {},
): Running {
  const entry =
    options.built === true
      ? [...(options.nodeFlags ?? []), 'dist/bin.js']
      : ['--import', 'tsx', 'src/bin.ts'];
  const child = spawn(process.execPath, [...entry, '--config', config, ...(options.args ?? ['run'])], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  let text = '';
  const parsed: LogLine[] = [];
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const line of parts) {
      try {
        parsed.push(JSON.parse(line) as LogLine);
      } catch {
        parsed.push({ message: line });
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  const waitFor = async (predicate: (line: LogLine) => boolean, what: string, ms = 20_000, from = 0) => {
    const deadline = Date.now() + ms;
    let seen = from;
    while (Date.now() < deadline) {
      for (; seen < parsed.length; seen++) if (predicate(parsed[seen]!)) return parsed[seen]!;
      if (child.exitCode !== null || child.signalCode !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (; seen < parsed.length; seen++) if (predicate(parsed[seen]!)) return parsed[seen]!;
    throw new Error(
      `timed out waiting for ${what}; log:\n${parsed.map((l) => JSON.stringify(l)).join('\n')}`,
    );
  };
  return { child, lines: () => parsed, output: () => text, waitFor, exited, mark: () => parsed.length };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

/**
 * `adnotify <args>` as a process of its own, for what must be set at a process's start
 * (NODE_EXTRA_CA_CERTS, which the in-process runCli cannot give); killed after 60 s.
 */
export async function adnotifyProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  return { code, out };
}
