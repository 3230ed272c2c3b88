/**
 * `adnotify run`: builds the daemon from the config and runs it until SIGTERM or SIGINT
 * (SIGBREAK on Windows, where service wrappers send Ctrl+C or Ctrl+Break); SIGHUP re-reads
 * the config. Resolves when the daemon has stopped, for main() to exit 0.
 */
import { Daemon, type DaemonFactory, type DaemonParts } from '../daemon/daemon.js';
import type { LoadedConfig } from '../config/load.js';

import type { Context, GlobalOptions } from './context.js';

export async function run(ctx: Context, global: GlobalOptions): Promise<void> {
  let current: DaemonParts | undefined;
  const factory: DaemonFactory = {
    clock: ctx.clock,
    load: () => ctx.config(global.config),
    instance: (loaded: LoadedConfig) => ctx.instance(loaded),
    build: async (loaded: LoadedConfig): Promise<DaemonParts> => {
      const log = ctx.logger(loaded);
      const samePath = current && ctx.statePath(current.loaded) === ctx.statePath(loaded);
      const parts: DaemonParts = {
        loaded,
        log,
        store: samePath && current ? current.store : await ctx.openStore(loaded),
        directory: ctx.directory(loaded, log),
        renderer: ctx.renderer(loaded),
        transport: ctx.transport(loaded),
        channels: ctx.channels(loaded),
      };
      current = parts;
      return parts;
    },
  };
  const parts = await factory.build(factory.load());
  const daemon = new Daemon(factory, parts);
  try {
    await daemon.start();
  } catch (err: unknown) {
    await daemon.stop('start-up failure');
    throw err;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      daemon
        .stop(signal)
        .catch(() => undefined)
        .finally(resolve);
    };
    const signals: NodeJS.Signals[] = [
      'SIGTERM',
      'SIGINT',
      ...(process.platform === 'win32' ? (['SIGBREAK'] as const) : []),
    ];
    for (const signal of signals) {
      process.once(signal, () => {
        stop(signal);
      });
    }
    if (process.platform !== 'win32') {
      process.on('SIGHUP', () => {
        daemon.reload();
      });
    }
  });
}
