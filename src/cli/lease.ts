/**
 * Leader work from the command line (once, password-expiry, lifecycle, digest) on a shared
 * database: it runs under the leader lease like a daemon's, fenced by its token, so that it
 * never polls beside a running leader. While another instance holds the lease the command
 * exits 75 naming it; a lease left by a dead instance is taken once it expired.
 */
import { hostname } from 'node:os';

import type { LoadedConfig } from '../config/load.js';
import { TemporaryError } from '../errors.js';
import type { StateStore } from '../store/ports.js';

export async function asLeader<T>(
  loaded: LoadedConfig,
  store: StateStore,
  command: string,
  work: () => Promise<T>,
  options: { dryRun?: boolean } = {},
): Promise<T> {
  const lease = store.lease;
  // A dry run changes nothing, so it needs no lease and may run beside the leader.
  if (lease === null || options.dryRun === true) return work();
  // Its own name, never ha.instance: renewing a running daemon's lease would fence it out.
  const instance = `${command}@${hostname()}:${process.pid}`;
  const seconds = loaded.config.ha.leaseSeconds;
  const state = await lease.acquire(instance, seconds);
  if (!state.mine) {
    throw new TemporaryError(
      `${state.holder ?? 'another instance'} holds the leader lease (leader since ${state.since ?? '?'}, last renewed ${state.heartbeatAt ?? '?'}, expires ${state.expiresAt ?? '?'}): it polls and runs the jobs, so "adnotify ${command}" did nothing. Its work is done by the leader; run the command again once no instance runs, or after the lease expired.`,
    );
  }
  store.fence({ instance, token: state.token });
  const renewing = setInterval(
    () => {
      void lease.acquire(instance, seconds).catch(() => undefined);
    },
    Math.max(1_000, (seconds * 1_000) / 3),
  );
  renewing.unref();
  try {
    return await work();
  } finally {
    clearInterval(renewing);
    await lease.release(instance, state.token).catch(() => undefined);
  }
}
