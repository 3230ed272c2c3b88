import { InvalidCredentialsError } from 'ldapts';
import { describe, expect, it } from 'vitest';

import { classifyLdapError } from '../../src/directory/errors.js';
import { BindPasswordRefusedError, ExitCode } from '../../src/errors.js';

const URL = 'ldaps://dc1.example.com:636';

describe('classifyLdapError: why AD refused a bind (the "data NNN" of its diagnostic message)', () => {
  // Only a refused password makes the daemon stop binding (BindPasswordRefusedError): another
  // try with it counts towards a lockout; the other reasons do not, and may clear by themselves.
  it.each([
    ['52e', 'the password is wrong', true],
    ['525', 'the bind account does not exist', false],
    ['532', 'the password of the bind account has expired', false],
    ['533', 'the bind account is disabled', false],
    ['701', 'the bind account has expired', false],
    ['773', 'the bind account must change its password', false],
    ['775', 'the bind account is locked out', false],
  ])('data %s: %s, exit 77, password refused: %s', (code, reason, refused) => {
    const err = new InvalidCredentialsError(
      `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${code}, v4563`,
    );
    const classified = classifyLdapError(err, URL, 'bind');
    expect(classified.message).toBe(
      `${URL}: bind refused: ${reason}. Check directory.bindDN and directory.bindPassword.`,
    );
    expect(classified.exitCode).toBe(ExitCode.noPermission);
    expect(classified instanceof BindPasswordRefusedError).toBe(refused);
  });

  it('a refusal without a reason (not AD) counts as a refused password', () => {
    const classified = classifyLdapError(new InvalidCredentialsError('Invalid Credentials'), URL, 'bind');
    expect(classified).toBeInstanceOf(BindPasswordRefusedError);
    expect(classified.message).toBe(
      `${URL}: bind refused: the bind DN or password is wrong. Check directory.bindDN and directory.bindPassword.`,
    );
  });
});
