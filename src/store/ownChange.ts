/**
 * The snapshot following a change adnotify made itself (a lifecycle step): shared by every
 * implementation of the snapshot port, so they agree on what the next cycle will compare.
 */
import { attributeName, type SnapshotObject } from '../core/snapshot.js';
import type { SnapshotStore } from './ports.js';

/**
 * adnotify itself added or removed `subject` in a DN-valued attribute of `targetGuid`
 * (`member` included): the snapshot follows, so the next cycle does not report it again.
 */
export async function applyOwnChange(
  snapshot: Pick<SnapshotStore, 'getObject' | 'putObject' | 'updateMemberships' | 'deleteMembership'>,
  targetGuid: string,
  attribute: string,
  operation: 'add' | 'delete',
  subject: { guid: string; dn: string },
): Promise<void> {
  const object = await snapshot.getObject(targetGuid);
  if (!object) return;
  if (attribute.toLowerCase() !== 'member') {
    await snapshot.putObject(withOwnChange(object, attribute, operation, subject));
  } else if (operation === 'add') {
    await snapshot.updateMemberships(targetGuid, [], [{ guid: subject.guid, sid: null, dn: subject.dn }]);
  } else {
    await snapshot.deleteMembership(targetGuid, subject.guid);
  }
}

/** `object` with `subject` added to or removed from its DN-valued `attribute` (any case). */
function withOwnChange(
  object: SnapshotObject,
  attribute: string,
  operation: 'add' | 'delete',
  subject: { guid: string; dn: string },
): SnapshotObject {
  const stored = attributeName(object, attribute);
  const name = stored ?? attribute;
  const values = (stored === undefined ? [] : (object.attributes[stored] ?? [])).filter(
    (v) => !(typeof v !== 'string' && 'dn' in v && v.guid === subject.guid),
  );
  if (operation === 'add') values.push({ dn: subject.dn, guid: subject.guid });
  const attributes = Object.fromEntries(Object.entries(object.attributes).filter(([k]) => k !== name));
  if (values.length > 0) attributes[name] = values;
  return { ...object, attributes };
}
