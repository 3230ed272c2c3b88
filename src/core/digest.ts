/**
 * Who gets a change in a digest instead of at once (delivery.digest): a recipient whose every
 * reason for the object is one of the digest roles. Anything else stays immediate: another
 * reason (the user about themselves when `self` is not listed), the administrators' copies
 * (smtp.to/smtp.cc), and every message about a protected group. Pure.
 */
import type { PlannedMessage, Reason } from './notify.js';

export function goesToDigest(
  roles: readonly Reason[] | undefined,
  message: Pick<PlannedMessage, 'kind' | 'reasons' | 'protectedGroup'>,
  aboutProtectedGroup: boolean,
): boolean {
  if (roles === undefined || roles.length === 0) return false;
  if (message.kind === 'admin-copy' || message.protectedGroup === true || aboutProtectedGroup) return false;
  return message.reasons.length > 0 && message.reasons.every((r) => roles.includes(r));
}
