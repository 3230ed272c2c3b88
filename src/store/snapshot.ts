/**
 * What the snapshot keeps of an object: attribute values as JSON, with binary values and
 * redacted attributes reduced to a hash (enough to tell "changed", nothing to leak), and
 * built-in noise left out.
 */
import { createHash } from 'node:crypto';

import { AttributeSet, BUILTIN_IGNORED_ATTRIBUTES } from '../core/attributes.js';
import type { SnapshotObject, SnapshotValue } from '../core/snapshot.js';
import type { AttributeValue, DirectoryEntry } from '../core/types.js';
import { structuralClass } from '../core/types.js';

export type { SnapshotObject, SnapshotValue } from '../core/snapshot.js';

export interface SnapshotPolicy {
  /** Attributes whose values are stored as a hash only (directory.attributes.redact). */
  redact: AttributeSet;
}

const NOISE = new AttributeSet(BUILTIN_IGNORED_ATTRIBUTES);

export function toSnapshotObject(entry: DirectoryEntry, policy: SnapshotPolicy): SnapshotObject {
  const attributes: Record<string, SnapshotValue[]> = {};
  const names = [...entry.attributes.keys()].filter((name) => !NOISE.has(name)).sort();
  for (const name of names) {
    const values = entry.attributes.get(name) ?? [];
    attributes[name] = policy.redact.has(name)
      ? [{ sha256: sha256(values.map(valueText).join('\u0000')), redacted: true }]
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

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
