/**
 * The common bed of an integration test file: a connection to the test DC as its
 * administrator and an SMTP capture, opened before the file's tests and closed after them.
 */
import { afterAll, beforeAll } from 'vitest';

import type { SambaInfo } from './samba.js';
import { DirectoryAdmin } from './seed.js';
import { SmtpCapture, type SmtpCaptureOptions } from './smtpCapture.js';

export interface DirectoryAndMail {
  admin: DirectoryAdmin;
  smtp: SmtpCapture;
}

/** Call inside a describe block; the fields are set once its beforeAll has run. */
export function directoryAndMail(samba: SambaInfo, smtpOptions: SmtpCaptureOptions = {}): DirectoryAndMail {
  const bed = {} as DirectoryAndMail;
  beforeAll(async () => {
    bed.admin = await DirectoryAdmin.connect(samba);
    bed.smtp = await SmtpCapture.start(smtpOptions);
  });
  afterAll(async () => {
    await bed.admin.close();
    await bed.smtp.stop();
  });
  return bed;
}
