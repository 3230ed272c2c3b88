/**
 * What the snapshot knows of an object, in the shape the diff compares: attribute values as
 * text, DN references by GUID, and hashes standing in for bytes and redacted secrets.
 * Turning a directory entry into this shape (hashing) is the store's job; comparing two is
 * the core's.
 */

/** A stored value: text, a DN reference by GUID, or a hash standing in for bytes or a secret. */
export type SnapshotValue =
  | string
  | { dn: string; guid: string | null }
  | { sha256: string; bytes: number }
  /** A redacted attribute: an HMAC of its values under the state's key. */
  | { hmac: string; redacted: true }
  /** Before state schema 6: a plain hash (kept until the object is next read). */
  | { sha256: string; redacted: true };

export interface SnapshotObject {
  guid: string;
  dn: string;
  class: string;
  usnChanged: bigint;
  attributes: Record<string, SnapshotValue[]>;
}

/** A group member as the snapshot keeps it: by GUID, or by DN when the server gave none. */
export interface StoredMember {
  guid: string | null;
  dn: string;
}

/**
 * The name an attribute is stored under, matched in any case (LDAP names are), or undefined.
 * The name as asked is tried first; the case-insensitive scan allocates nothing (it runs for
 * each object a cycle notifies, several times). Only the object's own attributes count: not
 * `constructor` or `__proto__` from Object.prototype.
 */
export function attributeName(object: SnapshotObject, attribute: string): string | undefined {
  if (Object.hasOwn(object.attributes, attribute)) return attribute;
  const wanted = attribute.toLowerCase();
  for (const name in object.attributes) {
    if (
      name.length === wanted.length &&
      name.toLowerCase() === wanted &&
      Object.hasOwn(object.attributes, name)
    ) {
      return name;
    }
  }
  return undefined;
}

/** An attribute's stored values, its name matched in any case, or undefined. */
export function attributeValues(object: SnapshotObject, attribute: string): SnapshotValue[] | undefined {
  const name = attributeName(object, attribute);
  return name === undefined ? undefined : object.attributes[name];
}

/** The identity of a value for comparison: a renamed manager is the same manager. */
export function valueKey(value: SnapshotValue): string {
  if (typeof value === 'string') return `s:${value}`;
  if ('dn' in value) return value.guid === null ? `d:${value.dn.toLowerCase()}` : `g:${value.guid}`;
  if ('hmac' in value) return `r:${value.hmac}`;
  if ('redacted' in value) return `r0:${value.sha256}`;
  return `b:${value.sha256}`;
}

/** How a value is shown in an event: text as is, a DN reference by its DN, bytes by hash. */
export function valueText(value: SnapshotValue): string {
  if (typeof value === 'string') return value;
  if ('dn' in value) return value.dn;
  if ('redacted' in value) return '(redacted)';
  return value.sha256;
}

/**
 * A redacted attribute hashed the old way (a plain SHA-256, state schema 5 and before) on one
 * side and with the key on the other: the two cannot be compared, so the first read after the
 * upgrade reports no change for it rather than a change that did not happen.
 */
export function isLegacyRedactedPair(a: readonly SnapshotValue[], b: readonly SnapshotValue[]): boolean {
  const legacy = (v: SnapshotValue) => typeof v !== 'string' && 'redacted' in v && 'sha256' in v;
  const keyed = (v: SnapshotValue) => typeof v !== 'string' && 'hmac' in v;
  return (a.some(legacy) && b.some(keyed)) || (a.some(keyed) && b.some(legacy));
}

export function isBinaryValue(value: SnapshotValue): boolean {
  return typeof value !== 'string' && 'bytes' in value;
}

export function isRedactedValue(value: SnapshotValue): boolean {
  return typeof value !== 'string' && 'redacted' in value;
}

/** The key a membership is stored under: the member's GUID, else its DN. */
export function memberKey(member: StoredMember): string {
  return member.guid ?? `dn:${member.dn.toLowerCase()}`;
}
