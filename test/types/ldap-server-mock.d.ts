// ldap-server-mock ships its .ts sources beside its declarations, and TypeScript prefers the
// sources (which do not compile under this project's settings). These are its public types.
export interface LdapUser {
  dn: string;
  attributes: Record<string, string | string[]>;
}

export declare class LdapServerMock {
  constructor(
    users: LdapUser[],
    configuration: { port?: number; searchBase?: string },
    certificatePublicKey?: Buffer,
    certificatePrivateKey?: Buffer,
    logger?: { info: (...args: unknown[]) => void },
  );
  start(): Promise<void>;
  stop(): Promise<void>;
}
