/**
 * The composition root: parses the command line, runs one command, and turns every
 * outcome into one exit code (spec/cli.md, sysexits). Nothing else calls process.exit.
 */
import { readFileSync } from 'node:fs';

import { Command, CommanderError } from 'commander';

import { checkConfig, digest, history, once, passwordExpiry, status } from './cli/commands.js';
import { Context, type GlobalOptions, type Io } from './cli/context.js';
import { outboxDiscard, outboxList, outboxRelease, outboxRetry, testEmail } from './cli/mail.js';
import { migrateState } from './cli/migrate.js';
import { run } from './cli/run.js';
import { tempAdd, tempApply, tempCancel, tempList, type TempAddOptions } from './cli/temp.js';
import { ConfigError, ExitCode, exitCodeFor, errorMessage, formatProblem, reportable } from './errors.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const ctx = new Context(io);
  const program = new Command('adnotify')
    .description('Watches Active Directory and emails the people each change concerns.')
    .version(pkg.version, '--version', 'print the version')
    .option(
      '-c, --config <path>',
      'config file (default: $ADNOTIFY_CONFIG, /etc/adnotify/adnotify.yaml, config/adnotify.yaml)',
    )
    .showHelpAfterError('(run "adnotify --help" for the commands)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();
  const global = (): GlobalOptions => program.opts<GlobalOptions>();

  program
    .command('run')
    .description(
      'the daemon: poll, run the jobs, deliver mail, until SIGTERM/SIGINT; SIGHUP re-reads the config',
    )
    .action(() => run(ctx, global()));
  program
    .command('once')
    .description('one poll cycle, then exit; on an empty state, take the baseline snapshot and send nothing')
    .action(() => once(ctx, global()));
  program
    .command('check-config')
    .description('validate the config file; --connect also binds to LDAP and checks the SMTP server')
    .option('--connect', 'also bind to LDAP (rootDSE, invocationId) and check the SMTP server')
    .action((options: { connect?: boolean }) => checkConfig(ctx, global(), options));
  program
    .command('status')
    .description(
      'DC in use, invocationId, USN cursor, snapshot size, last cycle, outbox counts, leader and instances',
    )
    .option('--json', 'print one JSON document')
    .action((options: { json?: boolean }) => status(ctx, global(), options));
  program
    .command('migrate-state')
    .description(
      'copy the configured state (snapshot, cursor, history, outbox, job state) to an empty PostgreSQL database or SQLite file; stop adnotify first',
    )
    .requiredOption(
      '--to <target>',
      'a postgres:// URL (leave the password out to take it from PGPASSWORD) or a SQLite file path',
    )
    .action((options: { to: string }) => migrateState(ctx, global(), options));
  program
    .command('history')
    .description('the events derived recently, newest last')
    .option('--since <when>', 'a duration back from now ("24h", "7d") or an ISO 8601 date-time', '24h')
    .option('--json', 'print one JSON array, oldest first')
    .action((options: { since?: string; json?: boolean }) => history(ctx, global(), options));
  program
    .command('password-expiry')
    .description('run the password reminder job now and deliver the reminders that are due')
    .option('--dry-run', 'only list who would be reminded, and why')
    .action((options: { dryRun?: boolean }) => passwordExpiry(ctx, global(), options));
  program
    .command('digest')
    .description('send the pending digests now (delivery.digest), one mail per recipient')
    .option('--dry-run', 'write them as .eml files instead; they stay pending')
    .action((options: { dryRun?: boolean }) => digest(ctx, global(), options));
  program
    .command('test-email')
    .description('send a test message through the configured SMTP settings')
    .requiredOption('--to <address>', 'where to send it')
    .action((options: { to: string }) => testEmail(ctx, global(), options));
  const outbox = program
    .command('outbox')
    .description(
      'inspect the outbox (mail, chat, webhook and SIEM items), retry failed ones, release or discard held ones',
    );
  outbox
    .command('list')
    .description('the items in the outbox, oldest first, each with its channel')
    .option('--status <status>', 'only pending, held, digest, sent or failed items')
    .option('--json', 'print one JSON array (without the bodies)')
    .action((options: { status?: string; json?: boolean }) => outboxList(ctx, global(), options));
  outbox
    .command('retry')
    .description('queue a failed message (or --all) again, then deliver what is due')
    .argument('[id]', 'message ID, from "outbox list"')
    .option('--all', 'every failed message')
    .action((id: string | undefined, options: { all?: boolean }) => outboxRetry(ctx, global(), id, options));
  outbox
    .command('release')
    .description('send the messages the flood guard held')
    .option('--cycle <n>', 'only this cycle\'s messages (the cycle from "outbox list")')
    .action((options: { cycle?: string }) => outboxRelease(ctx, global(), options));
  outbox
    .command('discard')
    .description('drop messages that must not be sent: one, every held one, or every failed one')
    .argument('[id]', 'message ID, from "outbox list"')
    .option('--held', 'every message the flood guard held')
    .option('--failed', 'every failed message')
    .action((id: string | undefined, options: { held?: boolean; failed?: boolean }) =>
      outboxDiscard(ctx, global(), id, options),
    );
  const temp = program
    .command('temp')
    .description('temporary memberships, removals, additional owners and managers (lifecycle)');
  const add = temp.command('add').description('schedule a temporary change; prints the new schedule ID');
  const when = (c: Command) =>
    c
      .option(
        '--from <T>',
        'when it starts: ISO date-time with offset (2026-12-01T09:00Z, ...+01:00), date (midnight UTC), or duration from now (default: now)',
      )
      .requiredOption(
        '--until <T>',
        'when it ends: ISO date-time with offset (2026-12-01T09:00Z, ...+01:00), date (midnight UTC), or duration from now',
      )
      .option(
        '--allow-protected',
        'accept a protected group or account (adminCount=1, or in notify.protectedGroupsExtra); logged at warn level',
      );
  when(add.command('member').description('join --group now or at --from, leave at --until'))
    .requiredOption('--group <G>', 'group: DN, sAMAccountName or mail')
    .requiredOption('--member <M>', 'member: DN, sAMAccountName, userPrincipalName or mail')
    .action((o: TempAddOptions) => tempAdd(ctx, global(), 'member', o));
  when(add.command('removal').description('leave --group now or at --from, rejoin at --until'))
    .requiredOption('--group <G>', 'group: DN, sAMAccountName or mail')
    .requiredOption('--member <M>', 'member: DN, sAMAccountName, userPrincipalName or mail')
    .action((o: TempAddOptions) => tempAdd(ctx, global(), 'removal', o));
  when(
    add
      .command('owner')
      .description('temporary additional owner of --group (directory.additionalOwnersAttribute)'),
  )
    .requiredOption('--group <G>', 'group: DN, sAMAccountName or mail')
    .requiredOption('--owner <O>', 'owner: DN, sAMAccountName, userPrincipalName or mail')
    .action((o: TempAddOptions) => tempAdd(ctx, global(), 'owner', o));
  when(
    add
      .command('manager')
      .description('temporary additional manager of --user (directory.additionalManagersAttribute)'),
  )
    .requiredOption('--user <U>', 'user: DN, sAMAccountName, userPrincipalName or mail')
    .requiredOption('--manager <M>', 'manager: DN, sAMAccountName, userPrincipalName or mail')
    .action((o: TempAddOptions) => tempAdd(ctx, global(), 'manager', o));
  temp
    .command('list')
    .description('schedules still to be applied, and failed ones with the reason; who created each')
    .option('--all', 'also those done or cancelled')
    .option('--json', 'print one JSON array')
    .action((o: { json?: boolean; all?: boolean }) => tempList(ctx, global(), o));
  temp
    .command('cancel')
    .description('cancel a schedule (the directory is left as it is)')
    .argument('<id>', 'schedule ID, from "temp list"')
    .action((id: string) => tempCancel(ctx, global(), id));
  temp
    .command('apply')
    .description('run the lifecycle job now: apply due changes and deliver its notices')
    .option('--dry-run', 'only list what is due')
    .action((o: { dryRun?: boolean }) => tempApply(ctx, global(), o));
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const command of all(program).slice(1))
    command.exitOverride().configureOutput(program.configureOutput());

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.ok;
  } catch (caught: unknown) {
    const err = reportable(caught);
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof ConfigError) {
      ctx.err(`configuration error in ${err.file}:`);
      for (const problem of err.problems) ctx.err(`  ${formatProblem(problem)}`);
    } else {
      ctx.err(`error: ${errorMessage(err)}`);
    }
    return exitCodeFor(err);
  }
}
