/**
 * userAccountControl flags adnotify reads ([MS-ADTS] 2.2.16). "Mail-enabled and not disabled"
 * decides who is mailed; the flags are tested here only.
 */
export const UAC_ACCOUNTDISABLE = 0x2;
export const UAC_DONT_EXPIRE_PASSWORD = 0x1_0000;

/** The flags of a userAccountControl value as read (text); none when absent (a group, a contact). */
export function accountFlags(userAccountControl: string | null | undefined): number {
  const flags = Number(userAccountControl ?? '0');
  return Number.isInteger(flags) ? flags : 0;
}

export function isDisabled(userAccountControl: string | null | undefined): boolean {
  return (accountFlags(userAccountControl) & UAC_ACCOUNTDISABLE) !== 0;
}
