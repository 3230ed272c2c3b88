/**
 * LdapDirectory.modify against a loopback LDAP server answering as a Windows DC does: a
 * change already in place is a success, whichever way the server words it, and any other
 * refusal is an error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseConfigText } from '../../src/config/load.js';
import { LdapDirectory } from '../../src/directory/ldap.js';
import { createLogger } from '../../src/log/logger.js';
import { LdapResponder } from '../support/ldapResponder.js';

const GROUP = 'CN=Club,OU=Groups,DC=example,DC=com';
const MEMBER = 'CN=Una,OU=Staff,DC=example,DC=com';

describe('modify: a member already there or already gone counts as done (Windows and Samba wording)', () => {
  let server: LdapResponder;
  let directory: LdapDirectory;

  beforeAll(async () => {
    server = await LdapResponder.start({ code: 0, message: '' });
    const { config } = parseConfigText(
      `version: 1
directory:
  urls: ["${server.url}"]
  allowInsecure: true
  bindDN: "CN=svc,DC=example,DC=com"
  bindPassword: "not-a-real-password"
  baseDN: "DC=example,DC=com"
smtp: { host: 127.0.0.1, from: "a@example.com" }
`,
      'test.yaml',
      {},
    );
    const log = createLogger({
      level: 'error',
      format: 'json',
      file: null,
      secrets: [],
      stream: process.stderr,
    });
    directory = new LdapDirectory({ config: config.directory, log });
  });
  afterAll(async () => {
    await directory.close();
    await server.stop();
  });

  const WINDOWS_NOT_MEMBER = '00000561: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0';
  const WINDOWS_ALREADY = '00000562: UpdErr: DSID-031A11C4, problem 6005 (ENTRY_EXISTS), data 0';
  it.each([
    { who: 'Windows', operation: 'delete', code: 53, message: WINDOWS_NOT_MEMBER },
    { who: 'Samba', operation: 'delete', code: 16, message: 'No such attribute' },
    { who: 'Windows', operation: 'add', code: 68, message: WINDOWS_ALREADY },
    { who: 'Samba', operation: 'add', code: 20, message: 'Attribute or value exists' },
  ] as const)('$who: $operation answered $code is done', async ({ operation, code, message }) => {
    server.modifyResult = { code, message };
    await expect(directory.modify(GROUP, operation, 'member', [MEMBER])).resolves.toBeUndefined();
  });

  it.each([
    ['delete', 53, '00002035: SvcErr: DSID-03152D2C, problem 5003 (WILL_NOT_PERFORM), data 0'],
    ['delete', 50, '00000005: SecErr: DSID-03152857, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0'],
    ['add', 53, '00000561: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0'],
  ] as const)('%s answered %i with another reason is an error', async (operation, code, message) => {
    server.modifyResult = { code, message };
    await expect(directory.modify(GROUP, operation, 'member', [MEMBER])).rejects.toThrow();
  });
});
