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
}

export interface DirectorySource {
  /** Connects to the first URL that answers and binds. Idempotent. */
  connect(): Promise<void>;
  /** rootDSE (highestCommittedUSN, dsServiceName) and that DC's invocationId. */
  identity(): Promise<DirectoryIdentity>;
  /**
   * Every matching entry, a page at a time (never the whole result in memory), each
   * group with all its `member` values (ranged retrieval followed to the end).
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
   * Whether the bind account may read the naming context's Deleted Objects container: without
   * it, tombstones never appear and deletions are missed.
   */
  tombstonesVisible(namingContext: string): Promise<boolean>;
  /** Attribute names whose values are bytes; read from the schema unless supplied. */
  binaryAttributes(): Promise<string[]>;
  /** Supplies the binary attribute names, e.g. cached from an earlier run. */
  useBinaryAttributes(names: readonly string[]): void;
  close(): Promise<void>;
}
