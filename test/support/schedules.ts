/** A lifecycle schedule as `temp add` would store it, for tests that only need one to exist. */
import type { NewSchedule } from '../../src/store/ports.js';

export const A_SCHEDULE: NewSchedule = {
  kind: 'member',
  targetGuid: 'g',
  targetDn: 'CN=G,DC=x',
  subjectGuid: 'u',
  subjectDn: 'CN=U,DC=x',
  startAt: '2026-11-25T08:00:00.000Z',
  endAt: '2026-11-26T08:00:00.000Z',
  createdAt: '2026-11-25T07:00:00.000Z',
  createdBy: 'admin',
};
