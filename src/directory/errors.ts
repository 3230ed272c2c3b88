/**
 * Turns what ldapts and Node throw into errors an administrator can act on, with the
 * step that failed. Never includes the bind password (ldapts does not echo it either).
 */
import {
  NoSuchObjectError,
  ConfidentialityRequiredError,
  InvalidCredentialsError,
  InsufficientAccessError,
  StrongAuthRequiredError,
  TimeLimitExceededError,
  UnavailableCriticalExtensionError,
} from 'ldapts';

import {
  AdnotifyError,
  BindPasswordRefusedError,
  DirectoryAuthError,
  DirectoryProtocolError,
  DirectoryUnavailableError,
  errorMessage,
  type DirectoryStep,
} from '../errors.js';

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * Active Directory puts the reason for a failed bind in the diagnostic message as
 * "data NNN" (https://learn.microsoft.com/en-us/troubleshoot/windows-server/active-directory/ldap-error-codes).
 */
const AD_BIND_REASONS: Record<string, string> = {
  '525': 'the bind account does not exist',
  '52e': 'the password is wrong',
  '530': 'the bind account may not log on at this time',
  '531': 'the bind account may not log on from this workstation',
  '532': 'the password of the bind account has expired',
  '533': 'the bind account is disabled',
  '701': 'the bind account has expired',
  '773': 'the bind account must change its password',
  '775': 'the bind account is locked out',
};

export function classifyLdapError(err: unknown, url: string, step: DirectoryStep): AdnotifyError {
  if (err instanceof AdnotifyError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = errorMessage(err);

  if (typeof code === 'string' && TLS_CODES.has(code)) {
    return new DirectoryAuthError(
      `${url}: TLS certificate verification failed (${code}: ${message}). Trust the issuing CA with directory.tls.caFile, and connect by a name the certificate carries.`,
      'tls',
      { cause: err },
    );
  }
  if (err instanceof InvalidCredentialsError) {
    const reason = /data ([0-9a-f]{3})/i.exec(message)?.[1];
    const why = (reason && AD_BIND_REASONS[reason.toLowerCase()]) ?? 'the bind DN or password is wrong';
    const text = `${url}: bind refused: ${why}. Check directory.bindDN and directory.bindPassword.`;
    // Other reasons (locked out, expired, disabled) do not count a failed logon against the
    // account, and may clear by themselves: those are retried.
    const passwordRefused = reason === undefined || reason.toLowerCase() === '52e';
    return passwordRefused
      ? new BindPasswordRefusedError(text, 'bind', { cause: err })
      : new DirectoryAuthError(text, 'bind', { cause: err });
  }
  if (err instanceof StrongAuthRequiredError || err instanceof ConfidentialityRequiredError) {
    return new DirectoryAuthError(
      `${url}: the server requires an encrypted connection for a simple bind. Use ldaps:// or set directory.startTls: true.`,
      'bind',
      { cause: err },
    );
  }
  if (err instanceof InsufficientAccessError) {
    return new DirectoryAuthError(
      step === 'modify'
        ? `${url}: the bind account may not make this change (${message}). The lifecycle job needs write access to the attributes it manages (member, the additional owners and managers attributes).`
        : `${url}: the bind account may not read what adnotify needs (${message}).`,
      step,
      {
        cause: err,
      },
    );
  }
  if (err instanceof UnavailableCriticalExtensionError) {
    return new DirectoryProtocolError(
      `${url}: the server does not support an LDAP control adnotify needs (${message}); it must be an Active Directory domain controller.`,
      step,
      { cause: err },
    );
  }
  if (err instanceof TimeLimitExceededError || /timeout|timed out/i.test(message)) {
    return new DirectoryUnavailableError(
      `${url}: no answer within directory.timeoutSeconds during ${step} (${message}).`,
      step,
      { cause: err },
    );
  }
  if ((typeof code === 'string' && NETWORK_CODES.has(code)) || /socket|connect|closed/i.test(message)) {
    return new DirectoryUnavailableError(
      `${url}: cannot reach the directory during ${step} (${typeof code === 'string' ? `${code}: ` : ''}${message}).`,
      step,
      { cause: err },
    );
  }
  return new DirectoryProtocolError(`${url}: LDAP ${step} failed: ${message}`, step, { cause: err });
}

/**
 * True when the server answered "no such object" (32): the base of a search does not exist.
 * Looked for through `cause`, as classifyLdapError wraps it.
 */
export function isNoSuchObject(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof NoSuchObjectError) return true;
  }
  return false;
}

/** What to say when the bind account cannot see tombstones: check-config and the daemon's start. */
export const TOMBSTONES_HIDDEN = (bindDN: string, context: string): string =>
  `${bindDN} sees no deleted object in CN=Deleted Objects,${context}: either none exists yet, or it may not list them (Active Directory's default for accounts that are not administrators), and then deletions are not reported. Grant it list and read there (README, "A least-privileged bind account"): dsacls "CN=Deleted Objects,${context}" /takeownership, then dsacls "CN=Deleted Objects,${context}" /G "<DOMAIN>\\<account>:LCRP"`;
