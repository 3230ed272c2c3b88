/**
 * The configuration contract (spec/adnotify.example.yaml) as one zod schema: the single
 * source of truth for keys, types, defaults and descriptions. config/adnotify.schema.json
 * is generated from it (`npm run schema`) and a test fails when the two drift apart.
 *
 * Longer than most files (about 470 lines) on purpose: it reads like the example config it
 * mirrors, one section after another, each key with its default and description.
 */
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';

import { mailAddress, mailboxAddress } from '../core/address.js';
import { parseDuration } from '../core/duration.js';
import { FilterParser } from 'ldapts';

const ldapFilter = (what: string, options: { orAll?: boolean } = {}) =>
  z.string().superRefine((value, ctx) => {
    if (options.orAll === true && value === 'all') return;
    // RFC 4515: a filter is parenthesised. Some parsers take "objectClass=user" as it is, but
    // inside "(&(uSNChanged>=N)...)" it would break every search.
    if (!value.trim().startsWith('(')) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} must be enclosed in parentheses, e.g. "(${value.trim() || 'objectClass=group'})"`,
      });
      return;
    }
    try {
      FilterParser.parseString(value);
    } catch (err: unknown) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} is not a valid LDAP filter (${err instanceof Error ? err.message : String(err)}); write it as in RFC 4515, e.g. "(objectClass=group)"`,
      });
    }
  });

const cron = z.string().refine((value) => isValidCron(value), {
  message: 'expected a cron expression such as "0 8 * * *" (minute hour day month weekday)',
});

const durationOrCron = z
  .string()
  .refine((value) => parseDuration(value) !== undefined || isValidCron(value), {
    message: 'expected a duration ("60s", "5m", "1h") or a cron expression ("*/2 * * * *")',
  })
  .refine((value) => parseDuration(value) !== 0, { message: 'a poll interval of zero would never pause' });

/** A duration of more than zero, such as "1s" or "500ms". */
const positiveDuration = z.string().refine((value) => (parseDuration(value) ?? 0) > 0, {
  message: 'expected a duration such as "1s" or "2s"',
});

const attributeName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'expected an LDAP attribute name such as "telephoneNumber"');

/** A DN such as "CN=Tier0 Admins,OU=Groups,DC=example,DC=com". */
const distinguishedName = z
  .string()
  .regex(
    /^\s*[A-Za-z][\w-]*\s*=.+/,
    'expected a distinguished name such as "CN=Tier0 Admins,OU=Groups,DC=example,DC=com"',
  );

const emailAddress = z.string().refine((value) => mailAddress(value) !== null, {
  message: 'expected one email address, such as "helpdesk@example.com"',
});

/** An address with an optional display name: "Directory Notifications <no-reply@example.com>". */
const mailbox = z.string().refine((value) => mailboxAddress(value) !== null, {
  message: 'expected an email address, with or without a name: "Name <user@example.com>"',
});

const tls = z
  .strictObject({
    caFile: z
      .string()
      .nullable()
      .default(null)
      .describe('PEM bundle of certificate authorities to trust. default: the system store'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Verify the server certificate and its name. Turn off only for a lab. default: true'),
  })
  .prefault({});

/** directory.filter's default: users (not computers), groups and contacts, by class. */
export const DEFAULT_FILTER =
  '(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group)(objectClass=contact))';

const directory = z.strictObject({
  urls: z
    .array(
      z
        .string()
        .regex(
          /^ldaps?:\/\/[^/\s]+\/?$/i,
          'expected an LDAP URL with scheme, host and optional port, e.g. "ldaps://dc1.example.com:636"',
        ),
    )
    .min(1, 'list at least one domain controller URL')
    .describe(
      'Domain controllers, tried in order. uSNChanged is per DC: when the DC in use (or its invocationId) differs from the one recorded in state, the watcher resynchronises against the snapshot.',
    ),
  startTls: z.boolean().default(false).describe('Upgrade ldap:// URLs with StartTLS. default: false'),
  allowInsecure: z
    .boolean()
    .default(false)
    .describe('Permit a simple bind (password in clear text) over plain ldap://. default: false'),
  tls: tls.describe('TLS settings for ldaps:// and StartTLS'),
  bindDN: z
    .string()
    .min(1)
    .describe('The account adnotify binds as: a DN or a user principal name (svc@example.com)'),
  bindPassword: z
    .string()
    .min(1)
    .describe('Its password; write "${file:/path}" or "${env:NAME}" to keep it out of this file'),
  baseDN: z.string().min(1).describe('Where to look: the domain or an OU, e.g. "DC=example,DC=com"'),
  filter: ldapFilter('directory.filter')
    .default(DEFAULT_FILTER)
    .describe('Which objects are watched. default: users, groups and contacts (not computers)'),
  pageSize: z.int().min(1).max(5000).default(500).describe('Entries per page of a search. default: 500'),
  failoverWaitSeconds: z
    .int()
    .min(0)
    .max(86_400)
    .default(300)
    .describe(
      'After a move to another DC, how long to wait for it to hold everything the previous DC had (its up-to-dateness vector) before resyncing; past it adnotify resyncs all the same and says reverts may be replication lag. default: 300',
    ),
  timeoutSeconds: z.number().positive().max(3600).default(30).describe('Per LDAP operation. default: 30'),
  attributes: z
    .strictObject({
      ignore: z
        .array(attributeName)
        .default([])
        .describe(
          'Changes to these never produce events. Merged with built-in defaults (lastLogon, logonCount, pwdLastSet, uSNChanged, whenChanged, memberOf, ...)',
        ),
      redact: z
        .array(attributeName)
        .default([])
        .describe(
          'Reported as "changed"; their values are never stored in clear, mailed, logged or shown by history. Merged with built-in secrets (userPassword, unixUserPassword, msSFU30Password, ms-Mcs-AdmPwd, msLAPS-*, msDS-ManagedPassword, supplementalCredentials, msTPM-OwnerInformation, msFVE-RecoveryPassword, trustAuthIncoming/Outgoing, currentValue, priorValue, ...)',
        ),
    })
    .prefault({}),
  additionalOwnersAttribute: attributeName
    .default('msExchCoManagedByLink')
    .describe(
      "Multi-valued DN attribute holding a group's additional owners. default: msExchCoManagedByLink",
    ),
  additionalManagersAttribute: attributeName
    .nullable()
    .default(null)
    .describe("Multi-valued DN attribute holding a user's additional managers, or null. default: null"),
  actor: z
    .strictObject({
      source: z
        .enum(['none', 'attribute', 'samba-audit', 'windows-events'])
        .default('none')
        .describe(
          'none | attribute (the modifier stored on the object) | samba-audit (Samba AD DC JSON audit log) | windows-events (Security events forwarded as JSON lines: Winlogbeat, OpenWEC). default: none',
        ),
      attribute: attributeName
        .default('modifiersName')
        .describe(
          'The attribute naming who made a change, when source is "attribute". default: modifiersName',
        ),
      paths: z
        .array(z.string().min(1))
        .default([])
        .describe(
          'The audit files to follow (samba-audit, windows-events): paths or globs such as "/var/log/samba/audit.log*"; rotated files are followed too. default: []',
        ),
      allowInsecureFiles: z
        .boolean()
        .default(false)
        .describe(
          'Read audit files that are symbolic links or writable by any local user. Off: such a file is refused with a warning, since whoever can write it decides who adnotify names as the actor. default: false',
        ),
      waitSeconds: z
        .number()
        .int()
        .min(0)
        .max(3600)
        .default(30)
        .describe(
          "How long a notification may wait for its actor's audit record before it goes out saying the actor is unknown. default: 30",
        ),
    })
    .prefault({})
    .superRefine((actor, ctx) => {
      if ((actor.source === 'samba-audit' || actor.source === 'windows-events') && actor.paths.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['paths'],
          message: `directory.actor.source is ${actor.source}: list the audit files to read in directory.actor.paths, e.g. ["/var/log/samba/audit.log*"]`,
        });
      }
    })
    .describe('Who made a change'),
});

const smtp = z
  .strictObject({
    host: z.string().min(1).describe('IP or FQDN of the SMTP server'),
    port: z.int().min(1).max(65535).optional().describe('default: 587, or 465 when secure is true'),
    secure: z.boolean().default(false).describe('"SSL enabled": implicit TLS. default: false'),
    requireTls: z.boolean().default(true).describe('STARTTLS must succeed when not secure. default: true'),
    tls: tls.describe('TLS settings for the SMTP connection'),
    auth: z
      .strictObject({
        type: z
          .enum(['password', 'oauth2'])
          .default('password')
          .describe(
            'password (user and pass) | oauth2 (XOAUTH2 with an app-only token from microsoft365:). default: password',
          ),
        user: z.string().min(1).describe('The account (password) or the mailbox to send as (oauth2)'),
        pass: z
          .string()
          .min(1)
          .optional()
          .describe('With type password. Write "${env:NAME}" or "${file:/path}" to keep it out of this file'),
      })
      .superRefine((auth, ctx) => {
        if (auth.type === 'password' && auth.pass === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['pass'],
            message:
              'smtp.auth.pass is required with smtp.auth.type password (or set type: oauth2 with microsoft365:)',
          });
        }
      })
      .optional()
      .describe('Omit for an unauthenticated relay'),
    allowInsecureAuth: z
      .boolean()
      .default(false)
      .describe(
        'Permit smtp.auth over a connection that may not be encrypted (requireTls: false) or to an unverified certificate (tls.rejectUnauthorized: false). default: false',
      ),
    from: mailbox.describe('Sender, e.g. "Directory Notifications <no-reply@example.com>"'),
    to: z.array(emailAddress).default([]).describe('Receive one copy of every notification. default: []'),
    cc: z.array(emailAddress).default([]).describe('default: []'),
  })
  .transform((value) => ({ ...value, port: value.port ?? (value.secure ? 465 : 587) }));

const notify = z
  .strictObject({
    loggedInUser: z
      .boolean()
      .default(false)
      .describe('The person who made the change (needs directory.actor). default: false'),
    ownerManager: z
      .boolean()
      .default(true)
      .describe(
        'Group: primary and additional owners; user/contact: manager and additional managers. default: true',
      ),
    objectModified: z
      .boolean()
      .default(false)
      .describe(
        'User/contact: itself; group: its members (attribute and membership changes). default: false',
      ),
    publicGroupOwnerOnMembershipChange: z
      .boolean()
      .default(true)
      .describe('Owners of a public group, when someone joins or leaves. default: true'),
    newMemberOnAdd: z.boolean().default(true).describe('An object added to a group. default: true'),
    removedMemberOnRemoval: z
      .boolean()
      .default(true)
      .describe('An object removed from a group. default: true'),
    publicGroups: ldapFilter('notify.publicGroups', { orAll: true })
      .default('all')
      .describe(
        'Which groups are "public": all (every group; the directory is not asked), or an LDAP filter the DC evaluates. default: all',
      ),
    expandNestedGroups: z
      .boolean()
      .default(false)
      .describe('Notify members of nested groups too. default: false'),
    protectedGroups: z
      .boolean()
      .default(true)
      .describe(
        'Mail smtp.to and smtp.cc about every change to a protected group (adminCount=1: Domain Admins, Enterprise Admins, Administrators, ...) or its membership, even when nobody else is told. default: true',
      ),
    protectedGroupsExtra: z
      .array(distinguishedName)
      .default([])
      .describe(
        'More groups to treat as protected, by DN (e.g. a group that grants admin rights through delegation). default: []',
      ),
  })
  .prefault({});

const passwordExpiry = z
  .strictObject({
    enabled: z.boolean().default(false).describe('default: false'),
    schedule: cron.default('0 8 * * *').describe('cron. default: "0 8 * * *"'),
    daysBefore: z
      .array(z.int().min(0).max(365))
      .min(1)
      .default([14, 7, 3, 1])
      .describe('One reminder per threshold. default: [14, 7, 3, 1]'),
    portalUrl: z
      .url({ protocol: /^https?$/, message: 'expected an http:// or https:// URL' })
      .nullable()
      .default(null)
      .describe('Included in every reminder'),
  })
  .prefault({})
  .superRefine((value, ctx) => {
    if (value.enabled && value.portalUrl === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['portalUrl'],
        message: 'required when passwordExpiry.enabled is true: the reminders link to it',
      });
    }
  });

const lifecycle = z
  .strictObject({
    enabled: z.boolean().default(false).describe('default: false'),
    schedule: cron.default('*/5 * * * *').describe('default: every 5 minutes'),
    membership: z
      .strictObject({
        notifyOnJoin: z.boolean().default(true).describe('"User joins the group". default: true'),
        notifyOnLeave: z.boolean().default(true).describe('"User leaves the group". default: true'),
        daysBeforeLeave: z
          .int()
          .min(0)
          .max(365)
          .default(2)
          .describe('"X days before user leaves the group"; 0 = off. default: 2'),
      })
      .prefault({}),
    managedBy: z
      .strictObject({
        sameAsMembership: z
          .boolean()
          .default(false)
          .describe('"Make options same as membership lifecycle". default: false'),
        notifyOnAdd: z
          .boolean()
          .default(true)
          .describe('"Object is added as additional owner/manager". default: true'),
        notifyOnRemove: z
          .boolean()
          .default(true)
          .describe('"Object is removed as additional owner/manager". default: true'),
        daysBeforeRemove: z
          .int()
          .min(0)
          .max(365)
          .default(2)
          .describe('"X days before object is removed"; 0 = off. default: 2'),
      })
      .prefault({}),
  })
  .prefault({})
  .describe('Temporary memberships and temporary additional owners/managers');

/** An https:// URL; a secret (it carries the channel's key), so a problem never echoes it. */
const secretHttpsUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'expected an https:// URL (the value is hidden: it is a secret)',
    });
    return;
  }
  if (url.protocol !== 'https:') {
    ctx.addIssue({
      code: 'custom',
      message: `a ${url.protocol.replace(':', '')}:// URL would send the channel's key and every change in clear text: use https://`,
    });
  }
});

/** An event-type glob: "object.modified", "group.member.*", "*". */
const eventGlob = z
  .string()
  .regex(/^[a-z*][a-z.*-]*$/, 'expected an event type or a glob such as "group.member.*" or "*"');

const channel = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'expected lower-case letters, digits and "-", e.g. "secops"')
      .describe('Unique; shown by "outbox list" as the channel. "mail" is reserved'),
    type: z.enum(['teams', 'slack', 'webhook']).describe('teams | slack | webhook'),
    url: secretHttpsUrl.describe(
      'The https:// webhook URL; a secret: write "${env:NAME}" or "${file:/path}". Never printed or logged',
    ),
    secret: z
      .string()
      .nullable()
      .default(null)
      .describe(
        'webhook: the signing secret, "whsec_" + base64 (Standard Webhooks); required for webhook. default: null',
      ),
    events: z
      .array(eventGlob)
      .min(1)
      .default(['*'])
      .describe('Event types to post, as globs: ["group.member.*", "object.modified"]. default: ["*"]'),
    protectedOnly: z
      .boolean()
      .default(false)
      .describe('Only changes to protected groups (notify.protectedGroups). default: false'),
  })
  .superRefine((c, ctx) => {
    if (c.type === 'webhook' && c.secret === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message:
          'a webhook channel signs every request: set secret to "whsec_" + a base64 key (e.g. "${env:HOOK_SECRET}"; make one with: echo "whsec_$(openssl rand -base64 32)")',
      });
    }
    if (c.secret !== null && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(c.secret)) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message:
          'expected "whsec_" followed by a base64 key (make one with: echo "whsec_$(openssl rand -base64 32)")',
      });
    }
  });

const siem = z
  .strictObject({
    syslog: z
      .string()
      .regex(
        /^(tcp\+tls|tcp|udp):\/\/(\[[0-9a-fA-F:]+\]|[^:/\s[\]]+):\d{1,5}$/,
        'expected "tcp+tls://host:port", "tcp://host:port" or "udp://host:port"',
      )
      .nullable()
      .default(null)
      .describe(
        'RFC 5424 syslog: "tcp+tls://siem.example.com:6514", "tcp://host:514" or "udp://host:514". default: null',
      ),
    caFile: z
      .string()
      .nullable()
      .default(null)
      .describe(
        'PEM CAs to verify the tcp+tls server; else the system CAs (and NODE_EXTRA_CA_CERTS). default: null',
      ),
    file: z
      .string()
      .nullable()
      .default(null)
      .describe('Append one event JSON per line to this file, rotated by size. default: null'),
    fileMaxBytes: z
      .int()
      .min(1024)
      .default(104_857_600)
      .describe(
        'siem.file is rotated (to .1, .2, ...) when it would grow past this. default: 104857600 (100 MiB)',
      ),
    fileKeep: z.int().min(1).max(100).default(5).describe('Rotated siem.file copies kept. default: 5'),
  })
  .optional()
  .describe('Every event, once, to a SIEM: RFC 5424 syslog and/or a JSON-lines file');

const digest = z
  .strictObject({
    schedule: cron.describe('When pending digests are sent (cron, like the jobs), e.g. "0 7 * * *"'),
    roles: z
      .array(z.enum(['self', 'member', 'owner', 'manager', 'actor', 'publicOwner', 'added', 'removed']))
      .min(1)
      .describe(
        'The reasons (as the mails name them) that get digests instead of immediate mail, e.g. [owner, member]',
      ),
  })
  .optional()
  .describe('One summary a day (or as scheduled) instead of a mail per change, for the roles listed');

const delivery = z
  .strictObject({
    transport: z
      .enum(['smtp', 'graph'])
      .default('smtp')
      .describe(
        'smtp (smtp:, with a password or OAuth2) | graph (Microsoft Graph sendMail as microsoft365:). default: smtp',
      ),
    dryRun: z
      .boolean()
      .default(false)
      .describe('Write .eml files under <state dir>/outbox-eml instead of sending. default: false'),
    maxAttempts: z
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .describe('Then the message is marked failed. default: 10'),
    maxMessagesPerCycle: z
      .int()
      .min(1)
      .default(1000)
      .describe(
        "Flood guard: above this, a cycle's messages are held and the To/CC recipients alerted. default: 1000",
      ),
    templatesDir: z
      .string()
      .nullable()
      .default(null)
      .describe(
        'Overrides for the built-in templates: files named <kind>.<part>.hbs (change, membership, admin-copy, flood-alert, test; subject, text, html). default: built-in only',
      ),
    retryDelay: z
      .string()
      .refine((value) => (parseDuration(value) ?? 0) > 0, {
        message: 'expected a duration such as "30s" or "1m"',
      })
      .default('1m')
      .describe(
        'Wait before the first retry of a message the SMTP server did not take; doubled after each further failure, up to 1h. default: 1m',
      ),
    digest,
  })
  .prefault({});

const logging = z
  .strictObject({
    level: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('default: info'),
    format: z
      .enum(['auto', 'json', 'text'])
      .default('auto')
      .describe('auto: text on a terminal, JSON lines otherwise. default: auto'),
    file: z
      .string()
      .nullable()
      .default(null)
      .describe('Also write JSON lines to this file, rotated. default: null'),
  })
  .prefault({});

/** The app registration both Microsoft 365 transports use (README, "Sending through Microsoft 365"). */
const microsoft365 = z
  .strictObject({
    tenantId: z.string().min(1).describe('The directory (tenant) ID of the app registration'),
    clientId: z.string().min(1).describe('The application (client) ID'),
    clientSecret: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        'A client secret; write "${env:NAME}" or "${file:/path}". Or null, with certificateFile and privateKeyFile. default: null',
      ),
    certificateFile: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe('PEM certificate uploaded to the app registration, instead of a secret. default: null'),
    privateKeyFile: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe('PEM private key of certificateFile. default: null'),
    authorityHost: z
      .url({ protocol: /^https$/ })
      .default('https://login.microsoftonline.com')
      .describe(
        'Microsoft identity platform host; national clouds: https://login.microsoftonline.us, https://login.chinacloudapi.cn. default: https://login.microsoftonline.com',
      ),
    graphBaseUrl: z
      .url({ protocol: /^https$/ })
      .default('https://graph.microsoft.com')
      .describe('Microsoft Graph endpoint. default: https://graph.microsoft.com'),
    sender: emailAddress
      .nullable()
      .default(null)
      .describe("The mailbox Graph sends as; null: smtp.from's address. default: null"),
  })
  .superRefine((m, ctx) => {
    const certificate = m.certificateFile !== null || m.privateKeyFile !== null;
    if (m.clientSecret === null && !(m.certificateFile !== null && m.privateKeyFile !== null)) {
      ctx.addIssue({
        code: 'custom',
        path: certificate
          ? [m.certificateFile === null ? 'certificateFile' : 'privateKeyFile']
          : ['clientSecret'],
        message: certificate
          ? 'microsoft365: give both certificateFile and privateKeyFile'
          : 'microsoft365: give clientSecret, or certificateFile and privateKeyFile',
      });
    }
  })
  .optional()
  .describe('The Microsoft 365 app identity (Entra ID app registration) for smtp.auth.type oauth2');

const http = z
  .strictObject({
    listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected "host:port", e.g. "127.0.0.1:9469"')
      .nullable()
      .default(null)
      .describe('e.g. "127.0.0.1:9469" serves /healthz and /metrics. default: off'),
  })
  .prefault({});

const alerts = z
  .strictObject({
    noSuccessFor: z
      .string()
      .refine((value) => (parseDuration(value) ?? 0) > 0, {
        message: 'expected a duration such as "30m" or "2h"',
      })
      .nullable()
      .default('30m')
      .describe(
        'adnotify run: when no poll has succeeded for this long, smtp.to/smtp.cc get one alert, and one notice when polls succeed again; null turns it off. default: 30m',
      ),
    failedMessages: z
      .boolean()
      .default(true)
      .describe(
        'adnotify run: when messages end as failed, smtp.to/smtp.cc get one alert, and one notice when none is left failed. default: true',
      ),
  })
  .prefault({})
  .describe("Alerts about adnotify's own health, to smtp.to and smtp.cc");

export const configSchema = z
  .strictObject({
    version: z.literal(1).describe('Config format version; required'),
    directory,
    poll: z
      .strictObject({
        schedule: durationOrCron
          .default('60s')
          .describe(
            'How often to look for changes: a duration ("60s", "5m") or a cron expression. Cycles never overlap. With trigger notification, the safety net. default: 60s',
          ),
        trigger: z
          .enum(['schedule', 'notification'])
          .optional()
          .describe(
            'notification: the DC tells adnotify of each change (the change-notification control), which starts a cycle within seconds; poll.schedule keeps running as the safety net. schedule: cycles on poll.schedule only. default: notification when the DC lists the control in supportedControl, else schedule',
          ),
        debounce: positiveDuration
          .default('1s')
          .describe(
            'A notification starts a cycle this long after it arrives; notifications meanwhile join that cycle. default: 1s',
          ),
        minInterval: positiveDuration
          .default('2s')
          .describe(
            'At least this long between the starts of two cycles started by notifications, so that a noisy DC cannot make adnotify poll continuously. default: 2s',
          ),
      })
      .prefault({}),
    state: z
      .strictObject({
        backend: z
          .enum(['sqlite', 'postgres'])
          .default('sqlite')
          .describe(
            'Where the state lives: "sqlite" (one file, one machine) or "postgres" (shared by an active/standby pair; state.url). default: sqlite',
          ),
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, {
            message:
              'expected a postgres:// URL such as "postgres://adnotify:${env:PGPASSWORD}@db1.example.com:5432/adnotify?sslmode=verify-full" (the value is hidden: it holds the password)',
          })
          .optional()
          .describe(
            'postgres backend: the database URL (ignored with sqlite); its password is a secret: write "${env:PGPASSWORD}". Add ?sslmode=verify-full for TLS verified against the system CAs or state.caFile. Never printed or logged',
          ),
        caFile: z
          .string()
          .min(1)
          .optional()
          .describe(
            'postgres backend: PEM file of the CA the database certificate is verified against. default: system CAs',
          ),
        path: z
          .string()
          .min(1)
          .default('state/adnotify.db')
          .describe(
            'SQLite file; relative paths are resolved from the working directory. default: state/adnotify.db',
          ),
        retentionDays: z
          .int()
          .min(1)
          .max(36_500)
          .default(180)
          .describe(
            'Events, sent messages (their bodies are personal data) and cycles older than this many days are removed once a day. default: 180',
          ),
      })
      .prefault({}),
    ha: z
      .strictObject({
        instance: z
          .string()
          .min(1)
          .max(200)
          .optional()
          .describe("This instance's name in status and logs (postgres backend). default: hostname:pid"),
        leaseSeconds: z
          .int()
          .min(3)
          .max(3600)
          .default(30)
          .describe(
            "How long the leader's lease lasts without renewal (renewed every third of it): a standby takes over within leaseSeconds plus one poll interval after the leader dies. default: 30",
          ),
      })
      .prefault({})
      .describe(
        'Active/standby on the postgres backend: one leader polls and runs the jobs, every instance delivers',
      ),
    smtp,
    notify,
    passwordExpiry,
    lifecycle,
    delivery,
    logging,
    http,
    alerts,
    microsoft365,
    channels: z
      .array(channel)
      .default([])
      .describe('Teams, Slack and signed webhooks that changes are posted to. default: none'),
    siem,
  })
  .superRefine((config, ctx) => {
    const { smtp } = config;
    const seen = new Set<string>();
    config.channels.forEach((c, index) => {
      if (c.name === 'mail' || seen.has(c.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['channels', index, 'name'],
          message:
            c.name === 'mail'
              ? '"mail" is reserved for email: name the channel after where it posts, e.g. "secops"'
              : `"${c.name}" names two channels: give each a name of its own`,
        });
      }
      seen.add(c.name);
    });
    if (config.state.backend === 'postgres' && config.state.url === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['state', 'url'],
        message:
          'state.backend postgres needs the database: set state.url to "postgres://adnotify:${env:PGPASSWORD}@db.example.com:5432/adnotify?sslmode=verify-full" (README, "Active/standby on PostgreSQL")',
      });
    }
    if (config.delivery.transport === 'graph' && config.microsoft365 === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['delivery', 'transport'],
        message:
          'delivery.transport graph sends as the app in microsoft365: add the block with tenantId, clientId and clientSecret (README, "Sending through Microsoft 365")',
      });
    }
    if (smtp.auth?.type === 'oauth2' && config.microsoft365 === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['smtp', 'auth', 'type'],
        message:
          'smtp.auth.type oauth2 takes its token from microsoft365: add the block with tenantId, clientId and clientSecret (README, "Sending through Microsoft 365")',
      });
    }
    const clearText = !smtp.secure && !smtp.requireTls;
    if (smtp.auth !== undefined && (clearText || !smtp.tls.rejectUnauthorized) && !smtp.allowInsecureAuth) {
      ctx.addIssue({
        code: 'custom',
        path: ['smtp', 'auth'],
        message: clearText
          ? 'the SMTP password would be sent over a connection that may not be encrypted (requireTls: false): set smtp.requireTls: true or smtp.secure: true, or set smtp.allowInsecureAuth: true'
          : 'the SMTP password would be sent to a server whose certificate is not verified (tls.rejectUnauthorized: false): verify it (smtp.tls.caFile), or set smtp.allowInsecureAuth: true',
      });
    }
    config.directory.urls.forEach((url, index) => {
      if (plainSimpleBind(url, config.directory.startTls) && !config.directory.allowInsecure) {
        ctx.addIssue({
          code: 'custom',
          path: ['directory', 'urls', index],
          message:
            'ldap:// would send the bind password in clear text: use ldaps://, set directory.startTls: true, or set directory.allowInsecure: true',
        });
      }
    });
  });

/** True when binding over this URL would expose the password: plain ldap:// without StartTLS. */
export function plainSimpleBind(url: string, startTls: boolean): boolean {
  return /^ldap:\/\//i.test(url) && !startTls;
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type DirectoryConfig = Config['directory'];
export type SmtpConfig = Config['smtp'];
export type Microsoft365Config = NonNullable<Config['microsoft365']>;
