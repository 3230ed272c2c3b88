/**
 * What the lifecycle tests share: a directory admin connection, people and groups in a
 * test's own OU, a watched OU with the lifecycle job on and an SMTP capture, a movable clock
 * (ADNOTIFY_FAKE_NOW), and reads of the directory independent of adnotify.
 */
import { expect } from 'vitest';

import type { SambaInfo } from './samba.js';
import { DirectoryAdmin } from './seed.js';
import { SmtpCapture } from './smtpCapture.js';
import { Watch, type WatchOptions } from './watch.js';

export const DAY = 86_400_000;

export class LifecycleBed {
  readonly #captures: SmtpCapture[] = [];

  private constructor(
    readonly admin: DirectoryAdmin,
    readonly samba: SambaInfo,
  ) {}

  static async start(samba: SambaInfo): Promise<LifecycleBed> {
    return new LifecycleBed(await DirectoryAdmin.connect(samba), samba);
  }

  async stop(): Promise<void> {
    await this.admin.close();
    for (const c of this.#captures) await c.stop();
  }

  /** A mail-enabled, enabled user named `name` in `ou`, with an address unique to the OU. */
  person(ou: string, name: string, attrs: Record<string, string> = {}): Promise<string> {
    const mail = `${name.toLowerCase()}-${ou.slice(3, 20)}@example.test`.replace(/[^\w@.-]/g, '');
    return this.admin.person(ou, name, attrs, mail);
  }

  async mailOf(dn: string): Promise<string> {
    const { searchEntries } = await this.admin.client.search(dn, { scope: 'base', attributes: ['mail'] });
    return String(searchEntries[0]?.['mail']);
  }

  async valuesOf(dn: string, attribute: string): Promise<string[]> {
    const { searchEntries } = await this.admin.client.search(dn, { scope: 'base', attributes: [attribute] });
    const raw = searchEntries[0]?.[attribute];
    return raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)];
  }

  /** A watched OU seeded by `seed`, with `lifecycle:` options and an SMTP capture. */
  async setup(
    name: string,
    seed: (ou: string) => Promise<void>,
    lifecycle: string,
    smtpExtra = '',
    options: WatchOptions = {},
  ) {
    const smtp = await SmtpCapture.start();
    this.#captures.push(smtp);
    const watch = await Watch.start(this.admin, this.samba, name, seed, {
      smtpPort: smtp.port,
      directoryExtra: '  additionalManagersAttribute: secretary',
      extra: `lifecycle:\n  enabled: true\n${lifecycle}`,
      smtpExtra,
      ...options,
    });
    const at = (offsetMs: number) => {
      watch.env = { ...watch.env, ADNOTIFY_FAKE_NOW: new Date(Date.now() + offsetMs).toISOString() };
    };
    const inbox = () => smtp.inbox();
    return { watch, smtp, at, inbox };
  }

  /** The events a poll cycle adds (the job's own lifecycle events left aside). */
  async pollEvents(watch: Watch) {
    return (await watch.cycle()).events.filter((e) => !e.type.startsWith('lifecycle.'));
  }

  /**
   * `temp add <kind>` with its target and subject flags (--group/--member, --group/--owner,
   * --user/--manager) and --until, plus `more` flags; it must succeed.
   */
  tempAdd(
    watch: Watch,
    kind: 'member' | 'removal' | 'owner' | 'manager',
    target: string,
    subject: string,
    until: string,
    ...more: string[]
  ) {
    const flags =
      kind === 'manager'
        ? ['--user', target, '--manager', subject]
        : ['--group', target, kind === 'owner' ? '--owner' : '--member', subject];
    return this.ok(watch, 'temp', 'add', kind, ...flags, '--until', until, ...more);
  }

  /** Runs an adnotify command that must succeed. */
  async ok(watch: Watch, ...args: string[]) {
    const result = await watch.run(...args);
    expect(result.code, result.stderr).toBe(0);
    return result;
  }
}
