/**
 * What the snapshot keeps of an object: attribute values as JSON, with binary values reduced
 * to a hash and redacted attributes to a keyed hash (enough to tell "changed", nothing to
 * leak, nothing to guess a short secret from), and built-in noise left out.
 */
import { createHmac, hash } from 'node:crypto';

import { AttributeSet, BUILTIN_IGNORED_ATTRIBUTES, BUILTIN_SECRET_ATTRIBUTES } from '../core/attributes.js';
import type { SnapshotObject, SnapshotValue } from '../core/snapshot.js';
import type { AttributeValue, DirectoryEntry } from '../core/types.js';
import { structuralClass } from '../core/types.js';

export type { SnapshotObject, SnapshotValue } from '../core/snapshot.js';

export interface SnapshotPolicy {
  /** Attributes stored as a keyed hash only: built-in secrets and directory.attributes.redact. */
  redact: AttributeSet;
  /** The state's HMAC key (SqliteStore.redactionKey). */
  hmacKey: Uint8Array;
}

/** The attributes to redact: the built-in secrets plus those the config names. */
export function redactedAttributes(configured: readonly string[]): AttributeSet {
  return new AttributeSet([...BUILTIN_SECRET_ATTRIBUTES, ...configured]);
}

/** A redacted attribute's values as stored: an HMAC of them all, never the values. */
export function redactedValue(texts: readonly string[], key: Uint8Array): SnapshotValue {
  return { hmac: createHmac('sha256', key).update(texts.join('\u0000')).digest('hex'), redacted: true };
}

const NOISE = new AttributeSet(BUILTIN_IGNORED_ATTRIBUTES);

export function toSnapshotObject(entry: DirectoryEntry, policy: SnapshotPolicy): SnapshotObject {
  const attributes: Record<string, SnapshotValue[]> = {};
  const names = [...entry.attributes.keys()].filter((name) => !NOISE.has(name)).sort();
  for (const name of names) {
    const values = entry.attributes.get(name) ?? [];
    attributes[name] = policy.redact.has(name)
      ? [redactedValue(values.map(valueText), policy.hmacKey)]
      : values.map(toSnapshotValue);
  }
  return {
    guid: entry.guid,
    dn: entry.dn,
    class: structuralClass(entry.objectClass),
    usnChanged: entry.usnChanged,
    attributes,
  };
}

function toSnapshotValue(value: AttributeValue): SnapshotValue {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return { sha256: sha256(value), bytes: value.length };
  return { dn: value.dn, guid: value.guid };
}

function valueText(value: AttributeValue): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value.guid ?? value.dn;
}

/** One-shot hashing: half the time of a Hash object per value (every objectSid of a full read). */
function sha256(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}
