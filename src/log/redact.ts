/**
 * The last net under "a password never reaches a log line": every string that goes out
 * through the logger (or is printed as an error) has each known secret replaced.
 */
export class Redactor {
  readonly #secrets: string[];

  constructor(secrets: Iterable<string>) {
    // Longest first, so a secret that contains another is replaced whole.
    this.#secrets = [...new Set(secrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  }

  text(value: string): string {
    let out = value;
    for (const secret of this.#secrets) out = out.split(secret).join('***');
    return out;
  }

  /** A copy of `value` with every string redacted; errors become plain objects. */
  deep(value: unknown, seen = new WeakSet<object>()): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object') return value;
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    if (value instanceof Error) return this.deep(serializeError(value), seen);
    if (Array.isArray(value)) return value.map((item) => this.deep(item, seen));
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `<${value.length} bytes>`;
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.deep(item, seen)]));
  }
}

export function serializeError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  const extra = err as Error & { code?: unknown; step?: unknown };
  if (extra.code !== undefined) out['code'] = extra.code;
  if (extra.step !== undefined) out['step'] = extra.step;
  if (err.cause !== undefined)
    out['cause'] = err.cause instanceof Error ? serializeError(err.cause) : err.cause;
  return out;
}
