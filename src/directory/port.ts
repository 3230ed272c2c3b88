/**
 * The directory as the rest of adnotify needs it. The real implementation is
 * {@link LdapDirectory}; the core never sees LDAP.
 */
import type { DirectoryEntry, DirectoryIdentity } from '../core/types.js';

export interface SearchRequest {
  /** Where to search; defaults to the configured baseDN. */
  base?: string;
  /**
   * An RFC 4515 filter, or the objects with these GUIDs (sent as binary values: ldapts turns
   * `\xx` escapes above 0x7f in a filter string into UTF-8, which breaks binary matches).
   */
  filter: string | { guids: readonly string[]; and?: string };
  /** default: sub */
  scope?: 'base' | 'sub';
  /** Attributes to read besides all user attributes, e.g. constructed ones. */
  attributes?: readonly string[];
  /** Also return tombstones and deleted objects (Show Deleted control). */
  showDeleted?: boolean;
  /**
   * Only what names the objects (objectGUID, objectClass, the USNs): no other attribute and no
   * members. For searches that only ask which objects match.
   */
  namesOnly?: boolean;
}

/** What the schema says about how to read attributes (MS-ADTS 3.1.1.2.2.2 syntaxes). */
export interface AttributeSyntaxes {
  /** Names whose values are bytes (octet string, SID, security descriptor). */
  binary: string[];
  /** Names (lower case) whose values are DNs: only theirs are read as Extended DNs. */
  dn: string[];
}

export interface DirectorySource {
  /** Connects to the first URL that answers and binds. Idempotent. */
  connect(): Promise<void>;
  /** rootDSE (highestCommittedUSN, dsServiceName) and that DC's invocationId. */
  identity(): Promise<DirectoryIdentity>;
  /**
   * Every matching entry, in batches of at most a page (never the whole result in memory),
   * each group with all its `member` values (ranged retrieval followed to the end).
   */
  search(request: SearchRequest): AsyncIterable<DirectoryEntry[]>;
  /**
   * Adds or deletes DN values of a multi-valued attribute (member, additional owners or
   * managers). Idempotent: adding a value already there, or deleting one that is not, succeeds.
   */
  modify(
    dn: string,
    operation: 'add' | 'delete',
    attribute: string,
    values: readonly string[],
  ): Promise<void>;
  /**
   * The DC's up-to-dateness vector of the naming context (invocationId of each DC → the
   * highest of its USNs applied here), or null when the DC does not show it.
   */
  upToDateness(namingContext: string): Promise<ReadonlyMap<string, bigint> | null>;
  /**
   * Whether the bind account may read the naming context's Deleted Objects container: without
   * it, tombstones never appear and deletions are missed.
   */
  tombstonesVisible(namingContext: string): Promise<boolean>;
  /** Attribute names whose values are bytes, and those whose values are DNs; from the schema unless supplied. */
  attributeSyntaxes(): Promise<AttributeSyntaxes>;
  /** Supplies the attribute syntaxes, e.g. cached from an earlier run. */
  useAttributeSyntaxes(syntaxes: AttributeSyntaxes): void;
  close(): Promise<void>;
}
