/**
 * The common bed of an integration test file: a connection to the test DC as its
 * administrator and an SMTP capture, opened before the file's tests and closed after them.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';

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

/** The administrator's connection for the file, opened before its tests, closed after them. */
export function directoryAdmin(samba: SambaInfo): { readonly admin: DirectoryAdmin } {
  let admin: DirectoryAdmin | undefined;
  beforeAll(async () => {
    admin = await DirectoryAdmin.connect(samba);
  });
  afterAll(async () => {
    await admin?.close();
  });
  return {
    get admin(): DirectoryAdmin {
      if (!admin) throw new Error('the directory admin connects in beforeAll: use it in tests and hooks');
      return admin;
    },
  };
}

export interface DirectoryAndCaptures {
  readonly admin: DirectoryAdmin;
  /** Starts an SMTP capture, stopped by the bed (a test may stop it earlier). */
  capture(options?: SmtpCaptureOptions): Promise<SmtpCapture>;
}

/**
 * The administrator's connection for the file, and SMTP captures started by the tests that
 * need their own (an outage, a port to reuse): stopped after each test, or after the file.
 */
export function directoryAndCaptures(
  samba: SambaInfo,
  stopCaptures: 'after each test' | 'after the file',
): DirectoryAndCaptures {
  const connection = directoryAdmin(samba);
  const captures: SmtpCapture[] = [];
  const stopAll = async () => {
    for (const c of captures.splice(0)) await c.stop();
  };
  afterAll(stopAll);
  if (stopCaptures === 'after each test') afterEach(stopAll);
  return {
    get admin(): DirectoryAdmin {
      return connection.admin;
    },
    async capture(options: SmtpCaptureOptions = {}) {
      const c = await SmtpCapture.start(options);
      captures.push(c);
      return c;
    },
  };
}
