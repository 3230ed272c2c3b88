import { describe, expect, it } from 'vitest';

import {
  changeFilter,
  fullReadFilter,
  isBeneath,
  isWithin,
  namingContextOf,
  normalizeDn,
  rebase,
  rebaseAll,
  sameDn,
  unrebaseAll,
} from '../../src/core/dn.js';
import { guidBytes, formatGuid, parseGeneralizedTime } from '../../src/core/normalize.js';

describe('DN helpers', () => {
  it.each([
    ['CN=A,OU=Staff,DC=x', 'OU=Staff,DC=x', true, true],
    ['OU=Staff,DC=x', 'OU=Staff,DC=x', true, false],
    ['cn=a,ou=staff,dc=x', 'OU=Staff,DC=X', true, true],
    ['CN=A,OU=Staff2,DC=x', 'OU=Staff,DC=x', false, false],
    ['CN=A,OU=XStaff,DC=x', 'OU=Staff,DC=x', false, false],
    // An escaped comma is part of a value, not an RDN boundary: OU "Evil,OU=Staff" is elsewhere.
    ['CN=x,OU=Evil\\,OU=Staff,DC=x', 'OU=Staff,DC=x', false, false],
    ['OU=Evil\\,OU=Staff,DC=x', 'OU=Staff,DC=x', false, false],
    ['CN=x,OU=Evil\\\\,OU=Staff,DC=x', 'OU=Staff,DC=x', true, true], // an escaped backslash, then a real comma
  ])('%s within %s: %s, beneath: %s', (dn, base, within, beneath) => {
    expect(isWithin(dn, base)).toBe(within);
    expect(isBeneath(dn, base)).toBe(beneath);
  });

  it('rebases descendants of a renamed container and leaves others alone', () => {
    expect(rebase('CN=A,OU=Staff,DC=x', 'OU=Staff,DC=x', 'OU=People,DC=x')).toBe('CN=A,OU=People,DC=x');
    expect(rebase('CN=A,OU=Sales,DC=x', 'OU=Staff,DC=x', 'OU=People,DC=x')).toBe('CN=A,OU=Sales,DC=x');
    expect(rebase('OU=Staff,DC=x', 'OU=Staff,DC=x', 'OU=People,DC=x')).toBe('OU=Staff,DC=x');
  });

  it('applies a cycle of renames in order (a nested OU renamed after its parent)', () => {
    const renames = [
      { from: 'OU=Staff,DC=x', to: 'OU=People,DC=x' },
      { from: 'OU=Team,OU=People,DC=x', to: 'OU=Crew,OU=People,DC=x' },
    ];
    expect(rebaseAll('CN=A,OU=Team,OU=Staff,DC=x', renames)).toBe('CN=A,OU=Crew,OU=People,DC=x');
  });

  it('finds the naming context that holds the base (longest match), else the base itself', () => {
    const contexts = ['DC=x', 'CN=Configuration,DC=x', 'CN=Schema,CN=Configuration,DC=x'];
    expect(namingContextOf('OU=Staff,DC=x', contexts)).toBe('DC=x');
    expect(namingContextOf('CN=Sites,CN=Configuration,DC=x', contexts)).toBe('CN=Configuration,DC=x');
    expect(namingContextOf('OU=Staff,DC=y', contexts)).toBe('OU=Staff,DC=y');
  });

  it('writes the change filter with the window (cursor, hcu] in 64-bit decimal', () => {
    expect(changeFilter('(objectClass=user)', 9_007_199_254_740_993n, 9_007_199_254_741_000n)).toBe(
      '(&(uSNChanged>=9007199254740994)(uSNChanged<=9007199254741000)' +
        '(|(objectClass=user)(isDeleted=TRUE)(objectClass=organizationalUnit)(objectClass=container)))',
    );
    expect(fullReadFilter('(objectClass=user)')).toBe(
      '(|(objectClass=user)(objectClass=organizationalUnit)(objectClass=container))',
    );
  });
});

describe('GUID bytes and GeneralizedTime', () => {
  it('guidBytes inverts formatGuid', () => {
    const bytes = Uint8Array.from([
      0, 9, 0x67, 0x76, 0xf5, 0x84, 0xd0, 0x4e, 0x89, 0x92, 0xf0, 0x7e, 0xcb, 0x7c, 0x43, 0x1f,
    ]);
    expect(guidBytes(formatGuid(bytes))).toEqual(bytes);
    expect(() => guidBytes('not-a-guid')).toThrow(/not a GUID/);
  });

  it('parses whenCreated', () => {
    expect(parseGeneralizedTime('20261125015600.0Z')?.toISOString()).toBe('2026-11-25T01:56:00.000Z');
    expect(parseGeneralizedTime('garbage')).toBeUndefined();
  });
});

describe('normalizeDn: one form for DNs that name the same object (RFC 4514)', () => {
  it.each([
    ['OU=Staff, DC=example, DC=com', 'ou=staff,dc=example,dc=com'],
    ['ou = Staff ,dc=Example;DC=com', 'ou=staff,dc=example,dc=com'],
    ['CN=Smith\\, John,OU=A', 'cn=smith\\, john,ou=a'],
    ['CN=Smith\\2C John,OU=A', 'cn=smith\\, john,ou=a'],
    ['CN=J\\C3\\A9r\\C3\\B4me , OU = A ', 'cn=jérôme,ou=a'],
    ['CN=trailing\\ ,OU=A', 'cn=trailing\\ ,ou=a'],
    ['CN=\\#hash,OU=A', 'cn=\\#hash,ou=a'],
    ['CN=a+SN=b,OU=A', 'cn=a+sn=b,ou=a'],
  ])('%s -> %s', (dn, normal) => {
    expect(normalizeDn(dn)).toBe(normal);
  });

  it('sameDn ignores case, spacing and escape spelling, not content', () => {
    expect(sameDn('CN=Domain Admins,CN=Users,DC=x', 'cn=domain admins, cn=users, dc=X')).toBe(true);
    expect(sameDn('CN=A\\,B,DC=x', 'CN=A\\2cB,DC=x')).toBe(true);
    expect(sameDn('CN=A B,DC=x', 'CN=AB,DC=x')).toBe(false);
    expect(sameDn('CN=A\\,B,DC=x', 'CN=A,CN=B,DC=x')).toBe(false);
  });
});

describe('isWithin: a base from the config, however it is spelt', () => {
  it.each([
    ['CN=Al,OU=Staff,DC=example,DC=com', 'OU=Staff, DC=example, DC=com', true],
    ['CN=Al,OU=Staff,DC=example,DC=com', 'ou=staff,dc=Example,dc=com', true],
    ['OU=Staff,DC=example,DC=com', 'OU=Staff , DC=example , DC=com', true],
    ['CN=Al,OU=Sales\\, EU,DC=example,DC=com', 'OU=Sales\\2C EU, DC=example, DC=com', true],
    ['CN=Al,OU=Other,DC=example,DC=com', 'OU=Staff, DC=example, DC=com', false],
    ['CN=Al,OU=NotStaff,DC=example,DC=com', 'OU=Staff,DC=example,DC=com', false],
  ])('%s within %s: %s', (dn, base, within) => {
    expect(isWithin(dn, base)).toBe(within);
  });
});

describe('unrebaseAll', () => {
  it('gives back the DN a stored DN had before the cycle’s container renames, in reverse order', () => {
    const renames = [
      { from: 'OU=B,DC=x', to: 'OU=C,DC=x' }, // B made room...
      { from: 'OU=A,DC=x', to: 'OU=B,DC=x' }, // ...for A
    ];
    expect(unrebaseAll(rebaseAll('CN=1,OU=A,DC=x', renames), renames)).toBe('CN=1,OU=A,DC=x');
    expect(unrebaseAll(rebaseAll('CN=2,OU=B,DC=x', renames), renames)).toBe('CN=2,OU=B,DC=x');
    expect(unrebaseAll('CN=3,OU=D,DC=x', renames)).toBe('CN=3,OU=D,DC=x');
  });
});
