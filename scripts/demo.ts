/**
 * npm run demo: a throwaway Active Directory (Samba AD DC on a private loopback address),
 * a small company in it, an SMTP capture, and the real adnotify binary run against them.
 * Everything is removed at the end.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { sambaInstalled, startSamba, stopEverySamba } from '../test/support/samba.js';
import { DirectoryAdmin } from '../test/support/seed.js';
import { SmtpCapture } from '../test/support/smtpCapture.js';

const APT = ['samba', 'samba-ad-dc', 'ldb-tools', 'ldap-utils'];
const say = (line = '') => process.stdout.write(`${line}\n`);

function ensureSamba(): void {
  if (sambaInstalled()) return;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;
  if (!isRoot || !hasApt) {
    say('The demo needs Samba AD DC. Install it (Debian/Ubuntu) with:');
    say(`  sudo apt-get update && sudo apt-get install -y ${APT.join(' ')}`);
    process.exit(1);
  }
  say(`Samba is missing: installing ${APT.join(' ')} with apt-get (as root)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', ...APT],
  ]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0) throw new Error(`apt-get ${args[0] ?? ''} failed`);
  }
}

/** Runs the built binary without blocking this process, which also hosts the SMTP capture. */
async function adnotify(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  say(`$ adnotify ${args.join(' ')}`);
  const child = spawn(process.execPath, ['dist/bin.js', ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code] = (await once(child, 'exit')) as [number | null];
  for (const line of stdout.split('\n').filter(Boolean)) say(`  ${line}`);
  for (const line of stderr.split('\n').filter(Boolean)) say(`  [log] ${line}`);
  say(`  (exit ${code ?? 'signal'})`);
  say();
  if (code !== 0) throw new Error(`adnotify ${args.at(-1) ?? ''} failed`);
}

ensureSamba();
const dir = mkdtempSync(join(tmpdir(), 'adnotify-demo-'));
say('Provisioning a throwaway Samba AD DC (about 10 s)...');
const samba = await startSamba(dir);
const smtp = await SmtpCapture.start();
try {
  say(`Directory: ${samba.info.url} (realm ${samba.info.realm}); SMTP capture on 127.0.0.1:${smtp.port}`);
  say();
  const admin = await DirectoryAdmin.connect(samba.info);
  const corp = await admin.ou('Demo Corp');
  const staff = await admin.ou('Staff', corp);
  const password = { password: 'Demo!Passw0rd' };
  const dana = await admin.user(
    staff,
    'dana',
    { displayName: 'Dana CEO', mail: 'dana@example.test', title: 'CEO' },
    password,
  );
  const alice = await admin.user(
    staff,
    'alice',
    { displayName: 'Alice Smith', mail: 'alice@example.test', manager: dana, telephoneNumber: '+1 555 0100' },
    password,
  );
  const bob = await admin.user(
    staff,
    'bob',
    { displayName: 'Bob Jones', mail: 'bob@example.test', manager: alice },
    password,
  );
  const eve = await admin.user(staff, 'eve', {
    displayName: 'Eve Former',
    mail: 'eve@example.test',
    manager: alice,
  }); // disabled
  const carl = await admin.contact(corp, 'Carl Contractor', {
    mail: 'carl@contractor.example',
    displayName: 'Carl Contractor',
  });
  const phoenix = await admin.group(corp, 'Project Phoenix', {
    managedBy: dana,
    msExchCoManagedByLink: alice,
    mail: 'phoenix@example.test',
  });
  await admin.addMembers(phoenix, [alice, bob, carl]);
  // A helpdesk operator with delegated rights (Account Operators), outside the watched OU.
  const olga = await admin.user(
    `CN=Users,${samba.info.baseDN}`,
    'olga',
    { displayName: 'Olga Operator', mail: 'olga@example.test' },
    password,
  );
  await admin.addMembers(`CN=Account Operators,CN=Builtin,${samba.info.baseDN}`, [olga]);
  say('Seeded OU=Demo Corp: Dana (CEO), Alice (reports to Dana), Bob (reports to Alice), Eve (disabled),');
  say(
    'contact Carl Contractor, and group "Project Phoenix" (owner Dana, co-owner Alice; members Alice, Bob, Carl).',
  );
  say('Olga Operator (helpdesk, an Account Operator) works outside it. The DC keeps audit records.');
  say();

  const config = join(dir, 'adnotify.yaml');
  writeFileSync(
    config,
    `version: 1
directory:
  urls: ["${samba.info.url}"]
  tls: { caFile: "${samba.info.caFile}" }
  bindDN: "${samba.info.bindDN}"
  bindPassword: "\${env:DEMO_BIND_PASSWORD}"
  baseDN: "${corp}"
  actor: { source: samba-audit, paths: ["${samba.info.auditLog}"], waitSeconds: 5 }
state: { path: "${join(dir, 'state', 'adnotify.db')}" }
smtp: { host: 127.0.0.1, port: ${smtp.port}, requireTls: false, from: "Directory Notifications <no-reply@example.test>", to: ["helpdesk@example.test"] }
notify: { objectModified: true, ownerManager: true, newMemberOnAdd: true, removedMemberOnRemoval: true, loggedInUser: true }
siem: { file: "${join(dir, 'events.jsonl')}" }
logging: { format: text }
`,
  );
  const env = { DEMO_BIND_PASSWORD: samba.info.password };
  await adnotify(['--config', config, 'check-config', '--connect'], env);
  await adnotify(['--config', config, 'once'], env);
  await adnotify(['--config', config, 'status'], env);

  say('Now some everyday changes. Olga Operator gives Alice a new phone number and adds Dana to');
  say('Project Phoenix; the administrator renames Bob to "Robert Jones", removes Carl from Project');
  say('Phoenix and deletes Eve (disabled).');
  say();
  const operator = await DirectoryAdmin.connect(samba.info, { dn: olga, password: password.password });
  await operator.modify(alice, 'replace', 'telephoneNumber', ['+1 555 0199']);
  await operator.addMembers(phoenix, [dana]);
  await operator.close();
  await admin.move(bob, bob.replace('CN=Bob Jones', 'CN=Robert Jones'));
  await admin.removeMembers(phoenix, [carl]);
  await admin.delete(eve);
  await admin.close();
  await adnotify(['--config', config, 'once'], env);
  await adnotify(['--config', config, 'history'], env);

  say(
    `Notifications sent: ${smtp.messages.length} (the SMTP capture received them; each is also saved as .eml):`,
  );
  const emlDir = mkdtempSync(join(tmpdir(), 'adnotify-demo-mail-'));
  for (const [i, message] of smtp.messages.entries()) {
    const file = join(emlDir, `${String(i + 1).padStart(2, '0')}.eml`);
    writeFileSync(file, message.raw);
    say();
    say(`── ${i + 1}. to ${message.to.join(', ')}`);
    say(`   Subject: ${message.parsed.subject ?? ''}`);
    for (const line of (message.parsed.text ?? '').trimEnd().split('\n')) say(`   ${line}`);
  }
  say();
  say(`The messages, as sent (HTML and text parts), are in ${emlDir}`);
  // The same events went to the SIEM feed (siem.file): one event JSON a line.
  const siem = readFileSync(join(dir, 'events.jsonl'), 'utf8').trimEnd().split('\n');
  writeFileSync(join(emlDir, 'events.jsonl'), `${siem.join('\n')}\n`);
  say();
  say(
    `SIEM feed (siem.file): ${siem.length} events, one JSON a line (also in ${join(emlDir, 'events.jsonl')}); the first:`,
  );
  say(`   ${siem[0] ?? '(none)'}`);
} finally {
  await smtp.stop();
  await samba.stop();
  await stopEverySamba(samba.info.dir);
  rmSync(dir, { recursive: true, force: true });
}
