/**
 * A real change in the directory, told through each Microsoft 365 transport: Samba AD DC,
 * `adnotify once` as its own process (trusting the test CA through NODE_EXTRA_CA_CERTS), the
 * loopback Microsoft identity platform, and either an SMTP server that takes only XOAUTH2
 * with a valid token or the loopback Graph sendMail endpoint.
 */
import { describe, expect, it } from 'vitest';

import { sambaOrNull } from '../support/cli.js';
import { adnotifyProcess } from '../support/daemon.js';
import { directoryAdmin } from '../support/directoryAndMail.js';
import { MicrosoftGraph, MicrosoftIdentity } from '../support/microsoftIdentity.js';
import { SmtpCapture } from '../support/smtpCapture.js';
import { ownedGroup } from '../support/ownedGroup.js';

const samba = sambaOrNull();
const MAILBOX = 'adnotify@example.test';

describe.skipIf(!samba)(
  'a directory change told through Microsoft 365 (Samba AD DC + loopback Microsoft)',
  () => {
    if (!samba) return;
    const bed = directoryAdmin(samba);

    /** ownedGroup's scenario, with the loopback identity platform's CA and the app's secret. */
    const scenario = (
      name: string,
      identity: MicrosoftIdentity,
      transport: { smtpPort?: number; smtpExtra?: string; extra: string },
    ) =>
      ownedGroup(bed.admin, samba, name, {
        ...transport,
        env: { NODE_EXTRA_CA_CERTS: identity.caFile, TEST_CLIENT_SECRET: identity.clientSecret },
      });

    it('smtp.auth.type oauth2: the notifications go out over XOAUTH2 with the app token', async () => {
      const identity = await MicrosoftIdentity.start();
      const smtp = await SmtpCapture.start({ xoauth2: { user: MAILBOX, valid: (t) => identity.valid(t) } });
      try {
        const { watch, change } = await scenario('xoauth2', identity, {
          smtpPort: smtp.port,
          smtpExtra: `  allowInsecureAuth: true\n  auth: { type: oauth2, user: "${MAILBOX}" }`,
          extra: identity.configBlock(),
        });
        const checked = await adnotifyProcess(
          ['--config', watch.config, 'check-config', '--connect'],
          watch.env,
        );
        expect(checked.code, checked.out).toBe(0);
        expect(checked.out).toMatch(
          /^smtp: 127\.0\.0\.1:\d+ accepted the connection and the XOAUTH2 login of adnotify@example\.test with a Microsoft 365 token$/m,
        );
        await change(1);
        const result = await adnotifyProcess(['--config', watch.config, 'once'], watch.env);

        expect(result.code, result.out).toBe(0);
        expect(result.out).toMatch(/mail: 2 sent via 127\.0\.0\.1:\d+/);
        expect(smtp.messages.map((m) => m.to).sort()).toEqual([
          ['m1-xoauth2@example.test'],
          ['owner-xoauth2@example.test'],
        ]);
        expect(smtp.messages.map((m) => m.parsed.subject)).toContainEqual(
          expect.stringMatching(/^You were added to /),
        );
        expect(new Set(identity.issued.map((t) => t.scope))).toEqual(
          new Set(['https://outlook.office365.com/.default']),
        );
        expect(result.out).not.toContain(identity.clientSecret);
        for (const t of identity.issued) expect(result.out).not.toContain(t.token);
      } finally {
        await smtp.stop();
        await identity.stop();
      }
    });

    it('delivery.transport graph: the notifications go out through sendMail as MIME', async () => {
      const identity = await MicrosoftIdentity.start();
      const graph = await MicrosoftGraph.start(identity);
      try {
        const { watch, change } = await scenario('graph', identity, {
          extra: `delivery: { transport: graph }\n${identity.configBlock({ graph })}`,
        });
        const checked = await adnotifyProcess(
          ['--config', watch.config, 'check-config', '--connect'],
          watch.env,
        );
        expect(checked.code, checked.out).toBe(0);
        expect(checked.out).toMatch(
          /^graph: token from https:\/\/127\.0\.0\.1:\d+ for app [0-9a-f-]{36}; mail goes out as adnotify@example\.test /m,
        );
        await change(1);
        const result = await adnotifyProcess(['--config', watch.config, 'once'], watch.env);

        expect(result.code, result.out).toBe(0);
        expect(result.out).toMatch(/mail: 2 sent via Microsoft Graph as adnotify@example\.test/);
        const sent = graph.messages.splice(0);
        expect(sent.map((m) => m.sender)).toEqual([MAILBOX, MAILBOX]);
        expect(
          sent.map((m) => (m.parsed.to && 'text' in m.parsed.to ? m.parsed.to.text : '')).sort(),
        ).toEqual(['m1-graph@example.test', 'owner-graph@example.test']);
        const added = sent.find((m) => m.parsed.subject?.startsWith('You were added to'));
        expect(added?.parsed.text).toContain('Team');
        expect(added?.parsed.headers.get('auto-submitted')).toBe('auto-generated');
        const outbox = await watch.run('outbox', 'list', '--json');
        const ids = (JSON.parse(outbox.stdout) as { messageId: string; status: string }[]).map((m) => [
          m.messageId,
          m.status,
        ]);
        expect(ids.map(([, status]) => status)).toEqual(['sent', 'sent']);
        expect(sent.map((m) => m.parsed.messageId).sort()).toEqual(ids.map(([id]) => id).sort());
        for (const t of identity.issued) expect(result.out).not.toContain(t.token);
      } finally {
        await graph.stop();
        await identity.stop();
      }
    });
  },
);
