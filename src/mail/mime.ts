/**
 * A letter as the MIME message SMTP would carry, composed by nodemailer from the same options
 * (mailOptions): for the transports that take a whole message (Graph, .eml files).
 */
import { createTransport } from 'nodemailer';

import { mailOptions, type Letter } from './port.js';

export interface MimeComposer {
  compose(letter: Letter): Promise<Buffer>;
  close(): void;
}

export function mimeComposer(): MimeComposer {
  const transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async compose(letter) {
      const info = await transport.sendMail(mailOptions(letter));
      const raw: unknown = info.message;
      if (!Buffer.isBuffer(raw)) throw new Error('nodemailer did not return the message as a buffer');
      return raw;
    },
    close() {
      transport.close();
    },
  };
}
