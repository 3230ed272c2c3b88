/**
 * delivery.dryRun: each message becomes `<dir>/<id>.eml`, exactly as it would be sent, and
 * nothing leaves the machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { mimeComposer } from './mime.js';
import type { Transport } from './port.js';

export function emlTransport(dir: string): Transport {
  const mime = mimeComposer();
  let written = 0;
  return {
    name: 'eml',
    target: dir,
    service: 'the dry run',
    async send(letter) {
      const raw = await mime.compose(letter);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Named after the message's place in the outbox (test-email's has none).
      const file = join(dir, `${String(letter.id ?? `test-${++written}`).padStart(6, '0')}.eml`);
      writeFileSync(file, raw, { mode: 0o600 });
      return { answer: `written to ${file}` };
    },
    check() {
      return Promise.resolve(`delivery.dryRun: messages are written as .eml files to ${dir}`);
    },
    close() {
      mime.close();
    },
  };
}
