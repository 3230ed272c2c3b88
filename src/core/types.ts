/**
 * The directory as the core sees it: plain data, already normalised by the adapter.
 */

/**
 * An attribute value: text, raw bytes for binary syntaxes (octet string, SID, ...), or a
 * reference to another object (DN syntax) that carries its GUID, so it survives renames.
 */
export type AttributeValue = string | Uint8Array | DnValue;

/** A group member, as read with the Extended DN control: the GUID survives renames. */
export interface MemberRef {
  /** Canonical lower-case GUID; null only when the server gave none. */
  guid: string | null;
  sid: string | null;
  dn: string;
}

/** One object read from the directory. */
export interface DirectoryEntry {
  guid: string;
  dn: string;
  /** objectClass values, most specific last (as Active Directory returns them). */
  objectClass: string[];
  usnChanged: bigint;
  /** uSNCreated on the DC that answered: tells a new object from one that moved into scope. */
  usnCreated: bigint;
  /** A tombstone (isDeleted), read with the Show Deleted control. */
  deleted: boolean;
  /** Every other attribute, each value list non-empty; `member` is in `members` instead. */
  attributes: Map<string, AttributeValue[]>;
  /** For groups: every member, all ranges read. Undefined for objects that are not groups. */
  members?: MemberRef[];
}

/** What a domain controller says about itself before a cycle (rootDSE + NTDS settings). */
export interface DirectoryIdentity {
  /** The URL that answered. */
  url: string;
  /** dsServiceName: the DN of the DC's NTDS Settings object. */
  dsServiceName: string;
  /** The DC's invocationId: changes when the DC's database is restored. */
  invocationId: string;
  highestCommittedUSN: bigint;
  defaultNamingContext: string | null;
  /** The naming contexts this DC holds (rootDSE namingContexts). */
  namingContexts: string[];
}

/** Containers (OUs, CN=Users, ...) are kept by GUID so descendants' DNs can follow a rename. */
export const CONTAINER_CLASSES = ['organizationalUnit', 'container'] as const;

/** The most specific objectClass: `user`, `group`, `contact`, `computer`, ... */
export function structuralClass(objectClass: readonly string[]): string {
  return objectClass.at(-1) ?? 'top';
}

export function isContainer(objectClass: readonly string[]): boolean {
  const lower = new Set(objectClass.map((c) => c.toLowerCase()));
  const watchedLeaf = lower.has('user') || lower.has('group') || lower.has('contact');
  return !watchedLeaf && CONTAINER_CLASSES.some((c) => lower.has(c.toLowerCase()));
}

/** A DN-valued attribute (manager, managedBy, ...) read with the Extended DN control. */
export type DnValue = MemberRef & { kind: 'dn' };

/** The first text value of an attribute (name case-insensitive), or null. */
export function textOf(entry: DirectoryEntry, name: string): string | null {
  const lower = name.toLowerCase();
  for (const [key, values] of entry.attributes) {
    if (key.toLowerCase() !== lower) continue;
    const value = values[0];
    return typeof value === 'string' ? value : null;
  }
  return null;
}
