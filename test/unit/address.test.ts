import { describe, expect, it } from 'vitest';

import { mailAddress, mailboxAddress } from '../../src/core/address.js';

describe('mailAddress', () => {
  it.each([
    'ann@example.com',
    'ann.lee+hr@mail.example.co.uk',
    "o'brien@example.com",
    'jürgen@bücher.example',
  ])('takes one plain address: %s', (value) => {
    expect(mailAddress(value)).toBe(value);
  });

  it.each([
    ['several addresses', 'ann@example.com, bob@example.com'],
    ['several addresses without space', 'ann@example.com;bob@example.com'],
    ['a display name', 'Ann <ann@example.com>'],
    ['a header injection', 'ann@example.com\r\nBcc: all@example.com'],
    ['no domain', 'ann@'],
    ['no local part', '@example.com'],
    ['no dot in the domain', 'ann@localhost'],
    ['two @', 'ann@bob@example.com'],
    ['spaces', 'ann lee@example.com'],
    ['a quoted local part', '"ann lee"@example.com'],
    ['an IP literal', 'ann@[127.0.0.1]'],
    ['zero-width characters', 'ann\u200b@example.com'],
    ['right-to-left override', 'ann\u202e@example.com'],
    ['a leading dot', '.ann@example.com'],
    ['too long', `${'a'.repeat(65)}@example.com`],
    ['nothing', ''],
  ])('refuses %s', (_, value) => {
    expect(mailAddress(value)).toBeNull();
  });

  it('refuses no value', () => {
    expect(mailAddress(null)).toBeNull();
  });
});

describe('mailboxAddress', () => {
  it.each([
    ['Directory Notifications <no-reply@example.com>', 'no-reply@example.com'],
    ['  adnotify <adnotify@contoso.test>  ', 'adnotify@contoso.test'],
    ['plain@example.com', 'plain@example.com'],
  ])('takes the address of %j', (value, address) => {
    expect(mailboxAddress(value)).toBe(address);
  });

  it.each([
    'Name <a@example.com, b@example.com>',
    'Two <a@example.com> <b@example.com>',
    'no address',
    'Name <>',
  ])('refuses %j', (value) => {
    expect(mailboxAddress(value)).toBeNull();
  });
});
