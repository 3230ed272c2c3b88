/**
 * A naming context's up-to-dateness vector (`replUpToDateVector`, MS-DRSR
 * replUpToDateVectorBlob): for each DC whose changes this DC has applied, by invocationId,
 * the highest of that DC's USNs it has. Samba returns it over LDAP; it says whether a DC
 * adnotify fails over to already holds what the previous one had told.
 *
 * Layout (little-endian): uint32 version (1 or 2), uint32 reserved, uint32 count, uint32
 * reserved, then count cursors of a GUID (16 bytes), a uint64 USN and, in version 2, an
 * NTTIME of the last successful sync (8 bytes).
 */
import { formatGuid } from './normalize.js';

/** The vector as invocationId → highest USN of that DC applied here. */
export function parseUpToDateVector(bytes: Uint8Array): Map<string, bigint> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16) throw new Error(`replUpToDateVector: ${bytes.length} bytes is too short`);
  const version = view.getUint32(0, true);
  if (version !== 1 && version !== 2) throw new Error(`replUpToDateVector: unknown version ${version}`);
  const count = view.getUint32(8, true);
  const size = version === 1 ? 24 : 32;
  if (16 + count * size > bytes.length) {
    throw new Error(`replUpToDateVector: ${count} cursors do not fit in ${bytes.length} bytes`);
  }
  const out = new Map<string, bigint>();
  for (let i = 0; i < count; i++) {
    const at = 16 + i * size;
    out.set(formatGuid(bytes.subarray(at, at + 16)), view.getBigUint64(at + 16, true));
  }
  return out;
}
