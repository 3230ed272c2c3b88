/**
 * Channels end to end against a real Samba AD DC: one change fans out to mail (SMTP capture),
 * Teams, Slack and a signed webhook (loopback HTTPS receivers that check payloads as the
 * services do), syslog over TCP+TLS and the SIEM file, each exactly once; a SIEM outage
 * holds records in order and `once` exits 75 until the sink is back; digests replace a
 * recipient's immediate mail and go out once, by `adnotify digest`.
 *
 * `adnotify once` runs as its own process here, trusting the test CA through
 * NODE_EXTRA_CA_CERTS as an administrator's machine would trust an inspecting proxy.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { HistoryEvent } from '../../src/store/ports.js';
import { sambaOrNull, uniqueName } from '../support/cli.js';
import { adnotifyProcess, startDaemon } from '../support/daemon.js';
import { directoryAndMail } from '../support/directoryAndMail.js';
import { ChannelReceiver, loopbackCertificate, SyslogReceiver, type TestCa } from '../support/receivers.js';
import { Watch } from '../support/watch.js';

const samba = sambaOrNull();

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
/** A description that would be a link, bold text, a mention and HTML if any channel rendered it. */
const HOSTILE = '[click](http://evil.example/x) **bold** <!channel> <@U123> <b>html</b> & co';

describe.skipIf(!samba)('channels end to end (Samba AD DC, SMTP, HTTPS and syslog on loopback)', () => {
  if (!samba) return;
  const bed = directoryAndMail(samba);
  let ca: TestCa;
  let teams: ChannelReceiver;
  let slack: ChannelReceiver;
  let hook: ChannelReceiver;
  beforeAll(async () => {
    ca = loopbackCertificate();
    teams = await ChannelReceiver.start('teams', { tls: ca });
    slack = await ChannelReceiver.start('slack', { tls: ca });
    hook = await ChannelReceiver.start('webhook', { tls: ca, secret: SECRET });
  });
  afterAll(async () => {
    await Promise.all([teams.stop(), slack.stop(), hook.stop()]);
  });

  /** A watched OU with a group owned by a mail-enabled user; `extra` config besides the channels. */
  async function scenario(name: string, extra: string) {
    let group = '';
    const contacts: string[] = [];
    const watch = await Watch.start(
      bed.admin,
      samba!,
      name,
      async (o) => {
        const owner = await bed.admin.user(
          o,
          uniqueName('own').slice(0, 20),
          { mail: `owner-${name}@example.test` },
          { password: 'Str0ng!Passw0rd' },
        );
        group = await bed.admin.group(o, uniqueName('grp').slice(0, 20), {
          displayName: 'Team',
          managedBy: owner,
        });
        // The members to come exist before the baseline: a change is then one object's events.
        for (let n = 1; n <= 2; n++) {
          contacts.push(await bed.admin.contact(o, `m${n}-${name}`, { mail: `m${n}-${name}@example.test` }));
        }
      },
      {
        smtpPort: bed.smtp.port,
        extra: `notify: { ownerManager: true, objectModified: false, newMemberOnAdd: false }\n${extra}`,
        env: { TEAMS_URL: teams.url(), SLACK_URL: slack.url(), HOOK_URL: hook.url(), HOOK_SECRET: SECRET },
      },
    );
    const once = () =>
      adnotifyProcess(['--config', watch.config, 'once'], { ...watch.env, NODE_EXTRA_CA_CERTS: ca.caFile });
    const change = async (n: number) => {
      await bed.admin.modify(group, 'replace', 'description', [`${HOSTILE} ${n}`]);
      await bed.admin.addMembers(group, [contacts[n - 1]!]);
    };
    const history = async () => {
      const result = await watch.run('history', '--since', '1h', '--json');
      return JSON.parse(result.stdout) as HistoryEvent[];
    };
    const outbox = async () => {
      const result = await watch.run('outbox', 'list', '--json');
      expect(result.code, result.stderr).toBe(0);
      return {
        text: result.stdout,
        items: JSON.parse(result.stdout) as { channel: string; status: string; kind: string }[],
      };
    };
    return { watch, once, change, history, outbox };
  }

  const channelsBlock = `channels:
  - { name: secops, type: teams, url: "\${env:TEAMS_URL}" }
  - { name: chat, type: slack, url: "\${env:SLACK_URL}", events: ["group.member.*", "object.modified"] }
  - { name: automation, type: webhook, url: "\${env:HOOK_URL}", secret: "\${env:HOOK_SECRET}" }
`;

  it('one change reaches mail, Teams, Slack, the webhook and both SIEM sinks exactly once each, values shown as text', async () => {
    const syslog = await SyslogReceiver.start('tcp+tls', ca);
    try {
      const dir = uniqueName('siem');
      const file = join(samba.dir, `${dir}.jsonl`);
      const { once, change, history, outbox } = await scenario(
        'fanout',
        `${channelsBlock}siem:\n  syslog: "${syslog.url()}"\n  caFile: ${JSON.stringify(ca.caFile)}\n  file: ${JSON.stringify(file)}\n`,
      );
      [teams, slack, hook].forEach((r) => (r.received.length = 0));
      bed.smtp.messages.length = 0;
      await change(1);
      const first = await once();
      expect(first.code, first.out).toBe(0);

      const events = await history();
      expect(events.map((e) => e.type).sort()).toEqual(['group.member.added', 'object.modified']);
      // Mail: the owner, once.
      expect(bed.smtp.messages.map((m) => m.to)).toEqual([[expect.stringMatching(/^owner-fanout@/)]]);
      // Teams and Slack: one post for the group, accepted as valid by the receiver.
      for (const chat of [teams, slack]) {
        expect(chat.received, chat.kind).toHaveLength(1);
        expect(chat.received[0]?.problems, chat.kind).toEqual([]);
      }
      const card = teams.received[0]!.body;
      // The hostile value is in the card only as TextRun text, never in a TextBlock (Markdown).
      const textBlocks = JSON.stringify(
        (
          JSON.parse(card) as { attachments: { content: { body: { type: string }[] } }[] }
        ).attachments[0]!.content.body.filter((b) => b.type === 'TextBlock'),
      );
      expect(card).toContain('[click](http://evil.example/x) **bold**');
      expect(textBlocks).not.toContain('click');
      expect(slack.received[0]!.body).toContain(
        '&lt;!channel&gt; &lt;@U123&gt; &lt;b&gt;html&lt;/b&gt; &amp; co',
      );
      expect(slack.received[0]!.body).not.toMatch(/<!channel>|<@U123>/);
      // The webhook: one signed POST per event, the body exactly the history --json item.
      expect(hook.received.map((r) => r.problems)).toEqual([[], []]);
      expect(hook.bodies().sort(byId)).toEqual(events.sort(byId));
      expect(new Set(hook.received.map((r) => r.headers['webhook-id'])).size).toBe(2);
      // Syslog over TLS: RFC 5424, one record per event in event order, MSGID the type.
      const records = syslog.parsed();
      expect(syslog.badFrames).toEqual([]);
      expect(records.map((r) => r.msgid)).toEqual(events.map((e) => e.type));
      expect(records.map((r) => JSON.parse(r.msg) as unknown)).toEqual(events);
      expect(records[0]).toMatchObject({ app: 'adnotify', pri: 13 * 8 + 5 });
      // The file: the same events, one JSON per line.
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(events);

      // Every outbox item names its channel, and all went.
      const { items, text } = await outbox();
      expect(items.map((i) => `${i.channel} ${i.status}`).sort()).toEqual(
        [
          'automation sent',
          'automation sent',
          'chat sent',
          'mail sent',
          'secops sent',
          'siem.file sent',
          'siem.file sent',
          'siem.syslog sent',
          'siem.syslog sent',
        ].sort(),
      );
      // The channels' URLs are keys: never printed.
      expect(text + first.out).not.toMatch(/T0KEN|s3cr3t/);

      // Nothing more the next time: exactly once.
      const second = await once();
      expect(second.code, second.out).toBe(0);
      expect([teams, slack].map((r) => r.received.length)).toEqual([1, 1]);
      expect(hook.received).toHaveLength(2);
      expect(syslog.records).toHaveLength(2);
      expect(bed.smtp.messages).toHaveLength(1);
    } finally {
      await syslog.stop();
    }
  });

  it('check-config --connect reaches each channel without posting, and names the one it cannot reach (exit 69)', async () => {
    const closed = await SyslogReceiver.start('tcp');
    const port = closed.port;
    await closed.stop();
    const { watch } = await scenario(
      'connect',
      `${channelsBlock}siem:\n  syslog: "tcp://127.0.0.1:${port}"\n`,
    );
    [teams, slack, hook].forEach((r) => (r.received.length = 0));
    const result = await adnotifyProcess(['--config', watch.config, 'check-config', '--connect'], {
      ...watch.env,
      NODE_EXTRA_CA_CERTS: ca.caFile,
    });
    expect(result.code, result.out).toBe(69);
    expect(result.out).toMatch(
      /secops: Teams channel secops \(127\.0\.0\.1:\d+\): TLS connection made, certificate verified \(nothing posted\)/,
    );
    expect(result.out).toMatch(/automation: Webhook channel automation .*certificate verified/);
    expect(result.out).toMatch(
      /siem\.syslog: the syslog receiver at tcp:\/\/127\.0\.0\.1:\d+ did not take the record: .*ECONNREFUSED/,
    );
    expect(result.out).not.toMatch(/T0KEN|s3cr3t/);
    // Nobody was told anything.
    expect([teams, slack, hook].map((r) => r.received.length)).toEqual([0, 0, 0]);
  });

  it('while the syslog receiver is down records wait in order and once exits 75; they drain when it is back', async () => {
    let syslog = await SyslogReceiver.start('tcp');
    const port = syslog.port;
    await syslog.stop();
    const { once, change, history, outbox } = await scenario(
      'siemdown',
      `siem:\n  syslog: "tcp://127.0.0.1:${port}"\n`,
    );
    bed.smtp.messages.length = 0;
    await change(1);
    const down = await once();
    expect(down.code, down.out).toBe(75);
    expect(down.out).toMatch(
      /siem\.syslog: the syslog receiver at tcp:\/\/127\.0\.0\.1:\d+ did not take the record/,
    );
    // Mail is not held up by the SIEM.
    expect(bed.smtp.messages).toHaveLength(1);
    await change(2);
    expect((await once()).code).toBe(75);
    const waiting = (await outbox()).items.filter((i) => i.channel === 'siem.syslog');
    expect(waiting.map((i) => i.status)).toEqual(['pending', 'pending', 'pending', 'pending']);

    syslog = await SyslogReceiver.start('tcp', undefined, port);
    try {
      const back = await once();
      expect(back.code, back.out).toBe(0);
      const events = await history();
      expect(syslog.parsed().map((r) => (JSON.parse(r.msg) as { id: number }).id)).toEqual(
        events.map((e) => e.id),
      );
    } finally {
      await syslog.stop();
    }
  });

  it('under run, a SIGKILL between queueing and delivery loses nothing: what was in flight goes again, the rest after', async () => {
    const file = join(samba.dir, `${uniqueName('killed')}.jsonl`);
    const { watch, change, history, outbox } = await scenario(
      'killed',
      `channels:\n  - { name: automation, type: webhook, url: "\${env:HOOK_URL}", secret: "\${env:HOOK_SECRET}" }\nsiem:\n  file: ${JSON.stringify(file)}\npoll:\n  schedule: 1h\n`,
    );
    hook.received.length = 0;
    hook.hang = true;
    await change(1);
    const env = { ...watch.env, NODE_EXTRA_CA_CERTS: ca.caFile };
    const first = startDaemon(watch.config, env);
    try {
      // The first webhook call is in flight (the receiver has it and never answers).
      for (let i = 0; i < 400 && hook.received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(hook.received, first.output()).toHaveLength(1);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
    } finally {
      first.child.kill('SIGKILL');
    }
    hook.hang = false;
    // Nothing was lost: the SIEM records and the second call still wait, the first is claimed
    // by a process that is gone.
    expect(
      (await outbox()).items
        .filter((i) => i.status !== 'sent')
        .map((i) => i.channel)
        .sort(),
    ).toEqual(['automation', 'automation', 'siem.file', 'siem.file']);
    const second = startDaemon(watch.config, env);
    try {
      await second.waitFor(
        (l) => l.message === 'poll done',
        'the first poll of the restarted daemon',
        30_000,
      );
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const events = (await history()).map((e) => `evt_${e.id}`);
    expect(events).toHaveLength(2);
    // The call in flight may repeat (at least once); each event arrived.
    expect(new Set(hook.received.map((r) => r.headers['webhook-id']))).toEqual(new Set(events));
    expect(hook.received.map((r) => r.problems)).toEqual(hook.received.map(() => []));
    expect(
      readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => `evt_${(JSON.parse(l) as { id: number }).id}`),
    ).toEqual(events);
    expect((await outbox()).items.every((i) => i.status === 'sent')).toBe(true);
  });

  it('digests: the owner gets one summary by "adnotify digest" instead of a mail per change, once', async () => {
    const { watch, once, change, outbox } = await scenario(
      'digest',
      'delivery:\n  digest:\n    schedule: "0 7 * * *"\n    roles: [owner]\n',
    );
    bed.smtp.messages.length = 0;
    await change(1);
    const first = await once();
    expect(first.code, first.out).toBe(0);
    await change(2);
    const second = await once();
    expect(second.code, second.out).toBe(0);
    // Nothing went to the owner yet: two digest items wait.
    expect(bed.smtp.inbox()).toEqual([]);
    expect((await outbox()).items.filter((i) => i.status === 'digest')).toHaveLength(2);

    const dry = await watch.run('digest', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would send owner-digest@example\.test: 2 changes to 1 object/);
    const emlDir = join(watch.dir, 'state', 'outbox-eml');
    expect(existsSync(emlDir) && readdirSync(emlDir).some((f) => f.endsWith('.eml'))).toBe(true);
    expect(bed.smtp.messages).toEqual([]);

    const sent = await watch.run('digest');
    expect(sent.code, sent.stderr).toBe(0);
    expect(bed.smtp.messages).toHaveLength(1);
    const mail = bed.smtp.messages[0]!;
    expect(mail.to).toEqual(['owner-digest@example.test']);
    expect(mail.parsed.subject).toBe('Directory changes: 1 object changed');
    expect(mail.parsed.text).toMatch(/You are told because you own this group/);
    expect(mail.parsed.text).toContain('+ m1-digest');
    expect(mail.parsed.text).toContain('+ m2-digest');
    expect(mail.parsed.html).toContain('&lt;b&gt;html&lt;/b&gt;');

    const again = await watch.run('digest');
    expect(again.stdout).toMatch(/digest: nothing pending/);
    expect(bed.smtp.messages).toHaveLength(1);
  });
  it('under run, the digest schedule sends the pending digest once', async () => {
    const { watch, change } = await scenario(
      'rundigest',
      'poll: { schedule: "1s" }\ndelivery:\n  digest:\n    schedule: "*/2 * * * * *"\n    roles: [owner]\n',
    );
    bed.smtp.messages.length = 0;
    await change(1);
    const daemon = startDaemon(watch.config, watch.env);
    try {
      await daemon.waitFor(
        (l) => l.message === 'digest done' && Number(l.digests) === 1,
        "a digest run that sends the owner's digest",
      );
      // Later runs find nothing pending.
      const mark = daemon.mark();
      await daemon.waitFor((l) => l.message === 'digest done', 'the next digest run', 10_000, mark);
      daemon.child.kill('SIGTERM');
      expect((await daemon.exited).code).toBe(0);
    } finally {
      daemon.child.kill('SIGKILL');
    }
    expect(bed.smtp.inbox()).toEqual(['owner-rundigest@example.test: Directory changes: 1 object changed']);
  });
});

const byId = (a: unknown, b: unknown) => (a as { id: number }).id - (b as { id: number }).id;
