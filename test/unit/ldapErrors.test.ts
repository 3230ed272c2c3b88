import { InvalidCredentialsError } from 'ldapts';
import { describe, expect, it } from 'vitest';

import { classifyLdapError } from '../../src/directory/errors.js';
import { ExitCode } from '../../src/errors.js';

const URL = 'ldaps://dc1.example.com:636';

describe('classifyLdapError: why AD refused a bind (the "data NNN" of its diagnostic message)', () => {
  it.each([
    ['52e', 'the password is wrong'],
    ['525', 'the bind account does not exist'],
    ['532', 'the password of the bind account has expired'],
    ['533', 'the bind account is disabled'],
    ['701', 'the bind account has expired'],
    ['773', 'the bind account must change its password'],
    ['775', 'the bind account is locked out'],
  ])('data %s: %s, exit 77', (code, reason) => {
    const err = new InvalidCredentialsError(
      `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${code}, v4563`,
    );
    const classified = classifyLdapError(err, URL, 'bind');
    expect(classified.message).toBe(
      `${URL}: bind refused: ${reason}. Check directory.bindDN and directory.bindPassword.`,
    );
    expect(classified.exitCode).toBe(ExitCode.noPermission);
  });
});
