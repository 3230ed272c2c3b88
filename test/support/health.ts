/** The facts /healthz is computed from, all well at `now`: a test changes the ones it is about. */
import type { HealthFacts } from '../../src/daemon/health.js';

export function healthyFacts(now: Date, changed: Partial<HealthFacts> = {}): HealthFacts {
  return {
    role: 'leader',
    shared: false,
    stateDown: null,
    now,
    intervalMs: 60_000,
    startedAt: now,
    lastSuccess: now,
    lastError: null,
    bindRefused: null,
    lagging: null,
    mailRefused: null,
    mailDownSince: null,
    mailDownReason: null,
    mailService: 'the SMTP server',
    counts: null,
    redact: (text) => text,
    ...changed,
  };
}
