/**
 * The directory as the rest of adnotify needs it. The real implementation is
 * {@link LdapDirectory}; the core never sees LDAP.
 */
import type { DirectoryEntry, DirectoryIdentity } from '../core/types.js';

export interface SearchRequest {
  /** Where to search; defaults to the configured baseDN. */
  base?: string;
  filter: string;
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
  close(): Promise<void>;
}
