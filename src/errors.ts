/**
 * Errors that callers act on, one class per outcome, each mapped to one exit code
 * (sysexits, per spec/cli.md) in {@link exitCodeFor}.
 *
 * Messages are written for an administrator: what is wrong and how to fix it.
 * They never contain a password; see {@link Redactor} in log/redact.ts for the net
 * under that rule.
 */

export const ExitCode = {
  ok: 0,
  usage: 64,
  unavailable: 69,
  software: 70,
  tempFail: 75,
  noPermission: 77,
  config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class AdnotifyError extends Error {
  readonly exitCode: ExitCode = ExitCode.software;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem in the configuration file, located by key path (and line when known). */
export interface ConfigProblem {
  /** Dotted key path such as `smtp.port` or `directory.urls[1]`; empty for the whole file. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class ConfigError extends AdnotifyError {
  override readonly exitCode = ExitCode.config;

  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`${file}: ${problems.map(formatProblem).join('; ')}`);
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where =
    p.line === undefined ? '' : ` (line ${p.line}${p.column === undefined ? '' : `, column ${p.column}`})`;
  return p.path === '' ? `${p.message}${where}` : `${p.path}: ${p.message}${where}`;
}

export class UsageError extends AdnotifyError {
  override readonly exitCode = ExitCode.usage;
}

/** The step of talking to the directory that failed, so an administrator knows where to look. */
export type DirectoryStep = 'connect' | 'tls' | 'bind' | 'rootDSE' | 'invocationId' | 'search' | 'modify';

/** A failure talking to the directory, with the step that failed. */
export abstract class DirectoryError extends AdnotifyError {
  constructor(
    message: string,
    readonly step: DirectoryStep,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** LDAP could not be reached at all (refused, timed out, DNS) after trying every URL. */
export class DirectoryUnavailableError extends DirectoryError {
  override readonly exitCode = ExitCode.unavailable;
}

/** The directory refused us: bad credentials, or its TLS certificate failed verification. */
export class DirectoryAuthError extends DirectoryError {
  override readonly exitCode = ExitCode.noPermission;
}

/**
 * The directory refused the bind password itself (AD's "data 52e", or a server that gives no
 * reason). Binding again with the same password only counts towards the account's lockout, so
 * the daemon does not, until its config is reloaded.
 */
export class BindPasswordRefusedError extends DirectoryAuthError {}

/** The server answered but is not an Active Directory domain controller we can poll. */
export class DirectoryProtocolError extends DirectoryError {
  override readonly exitCode = ExitCode.unavailable;
}

export class SmtpError extends AdnotifyError {
  override readonly exitCode: ExitCode = ExitCode.unavailable;
}

export class SmtpAuthError extends SmtpError {
  override readonly exitCode = ExitCode.noPermission;
}

/** A chat, webhook or SIEM channel could not be reached (check-config --connect). */
export class ChannelError extends AdnotifyError {
  override readonly exitCode = ExitCode.unavailable;
}

/** The state database cannot be used as it is (corrupt, newer schema, unreadable). */
export class StateError extends AdnotifyError {
  override readonly exitCode: ExitCode = ExitCode.software;
}

/** The state database (PostgreSQL) could not be reached: exit 69, naming the host. */
export class StateUnavailableError extends StateError {
  override readonly exitCode = ExitCode.unavailable;
}

/** The state database refused the credentials: exit 77, never quoting the password. */
export class StateAuthError extends StateError {
  override readonly exitCode = ExitCode.noPermission;
}

/** The state was written by a newer adnotify: exit 78 (upgrade, or point the config elsewhere). */
export class StateTooNewError extends StateError {
  override readonly exitCode = ExitCode.config;
}

/** Something that may succeed when tried again later (state locked by another process). */
export class TemporaryError extends AdnotifyError {
  override readonly exitCode = ExitCode.tempFail;
}

/**
 * This instance no longer holds the leader lease (another took it over, or it expired while
 * this one was paused or cut off): what it was about to commit is rolled back.
 */
export class DeposedError extends TemporaryError {}

/**
 * The DC adnotify moved to does not yet hold everything the previous one had: the cycle waits
 * (directory.failoverWaitSeconds) rather than report changes not yet replicated as reverts.
 */
export class ReplicationLagError extends TemporaryError {}

/**
 * SQLite's "database is locked" (SQLITE_BUSY and its variants), past the busy timeout:
 * another adnotify process is writing to the state. It may well work in a moment.
 */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** The error as adnotify reports it: a busy state database becomes a {@link TemporaryError}. */
export function reportable(err: unknown): unknown {
  if (!isBusy(err)) return err;
  return new TemporaryError(
    'the state database is busy: another adnotify process (the daemon or a command) is writing to it; try again in a moment',
    { cause: err },
  );
}

export function exitCodeFor(err: unknown): ExitCode {
  const e = reportable(err);
  return e instanceof AdnotifyError ? e.exitCode : ExitCode.software;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
