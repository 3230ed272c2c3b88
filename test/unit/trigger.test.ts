/**
 * The notification trigger's own rules, without a DC: notifications arriving together start
 * one cycle after poll.debounce, triggered cycles are at least poll.minInterval apart, and a
 * trigger that cannot reach the DC says so and stops at once when asked (a reload or a stop
 * must not wait for its back-off).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { parseConfigText } from '../../src/config/load.js';
import { NotificationTrigger, SAMBA_NOTE, vendorNote } from '../../src/poll/trigger.js';
import { quietLogger } from '../support/quietLogger.js';

const config = (poll: string) =>
  parseConfigText(
    `version: 1
directory:
  urls: ["ldaps://127.0.0.1:1"]
  bindDN: "CN=svc,DC=example,DC=com"
  bindPassword: "S3cret!pw"
  baseDN: "DC=example,DC=com"
  timeoutSeconds: 2
smtp:
  host: smtp.example.com
  from: "n <n@example.com>"
poll: ${poll}
`,
    'test.yaml',
    {},
  ).config;

describe('the notification trigger', () => {
  it('debounces notifications into one cycle and spaces cycles by minInterval', async () => {
    const fired: number[] = [];
    const trigger = new NotificationTrigger({
      config: config('{ debounce: "100ms", minInterval: "400ms" }'),
      log: quietLogger(),
      fire: () => fired.push(Date.now()),
      connected: () => undefined,
    });
    const start = Date.now();
    for (let i = 0; i < 5; i++) trigger.notified();
    await sleep(250);
    expect(fired).toHaveLength(1);
    expect(fired[0]! - start).toBeGreaterThanOrEqual(90);
    trigger.notified();
    trigger.notified();
    await sleep(150);
    expect(fired).toHaveLength(1); // not before minInterval after the first
    await sleep(300);
    expect(fired).toHaveLength(2);
    expect(fired[1]! - fired[0]!).toBeGreaterThanOrEqual(390);
    await trigger.stop();
  });

  it('a DC out of reach: down with the reason, and stop() returns at once from the back-off', async () => {
    const states: boolean[] = [];
    const trigger = new NotificationTrigger({
      config: config('{ trigger: notification }'),
      log: quietLogger(),
      fire: () => undefined,
      connected: (up) => states.push(up),
    });
    trigger.start();
    await expect.poll(() => trigger.state.reason, { timeout: 5_000 }).toMatch(/cannot reach the directory/);
    expect(trigger.state).toMatchObject({ trigger: 'notification', connected: false });
    await sleep(1_200); // into a longer back-off
    const stopping = Date.now();
    await trigger.stop();
    expect(Date.now() - stopping).toBeLessThan(500);
    expect(states.every((up) => !up)).toBe(true);
  });

  it('poll.trigger schedule: no search, the schedule alone', async () => {
    const trigger = new NotificationTrigger({
      config: config('{ trigger: schedule }'),
      log: quietLogger(),
      fire: () => undefined,
      connected: () => undefined,
    });
    trigger.start();
    expect(trigger.state).toMatchObject({ trigger: 'schedule', reason: 'poll.trigger is schedule' });
    await trigger.stop();
  });

  it("notes Samba's 5 s for other workers' writes; says nothing of a DC that names no vendor", () => {
    expect(vendorNote('Samba Team (https://www.samba.org) 4.17.12-Debian')).toBe(SAMBA_NOTE);
    expect(SAMBA_NOTE).toMatch(/up to 5 s later/);
    expect(SAMBA_NOTE).toMatch(/prefork children:ldap = 1/);
    // Active Directory's rootDSE has no vendorName; another vendor is not Samba.
    expect(vendorNote(null)).toBeUndefined();
    expect(vendorNote('OpenLDAP')).toBeUndefined();
    expect(vendorNote('Not Samba')).toBeUndefined();
  });
});
