/**
 * The domain controllers' audit records, reduced to what says who changed what: the actor's
 * SID, the object (GUID, DN or account name), the attribute or member, the time. The values a
 * record carries are dropped here, so a secret in one (a password, a LAPS value) never goes
 * further. Two formats:
 *
 * - samba-audit: the Samba AD DC's JSON audit lines (`dsdb_json_audit`, `dsdb_group_json_audit`),
 *   with or without Samba's debug header before the JSON;
 * - windows-events: Windows Security events as JSON lines, as Winlogbeat / Elastic Agent
 *   (`winlog.event_id`, `winlog.event_data.*`) or OpenWEC (`System.EventID`, `EventData.*`)
 *   write them. Microsoft, "Audit Directory Service Changes" (5136, 5137, 5139, 5141) and
 *   "Audit User Account Management" / "Audit Security Group Management" (4720..4757).
 */

import { parseExtendedDn } from './normalize.js';

export type AuditOperation = 'add' | 'modify' | 'delete' | 'move' | 'member-add' | 'member-remove';

export interface AuditRecord {
  /** When the DC recorded it (ISO 8601, UTC). */
  at: string;
  actorSid: string;
  /** DOMAIN\account, when the record names the actor (Windows events). */
  actorAccount: string | null;
  operation: AuditOperation;
  /** The object's GUID, when the record has it. */
  objectGuid: string | null;
  /** The object's DN (after a move: the new one), when the record has it. */
  dn: string | null;
  /** The object's sAMAccountName, when the record names it only so (4720..4757). */
  account: string | null;
  /** The attribute changed (as written), for `modify`. */
  attribute: string | null;
  /** The member added or removed, for member changes. */
  member: { dn: string | null; guid: string | null; sid: string | null } | null;
  /** Where a forwarded Windows event says it came from; absent for Samba's own audit log. */
  origin?: AuditOrigin;
}

/** The provenance fields of a forwarded Windows event, as it names them (null when absent). */
export interface AuditOrigin {
  /** The event log: "Security". */
  channel: string | null;
  /** The writer: "Microsoft-Windows-Security-Auditing". */
  provider: string | null;
  /** The computer that logged it: a DC's FQDN, or a workstation's. */
  computer: string | null;
  /** The domain the event is about: DSName (51xx, DNS name) or TargetDomainName (47xx). */
  domain: string | null;
}

/** What the directory says the watched domain is: its DCs and its names (lower case). */
export interface WatchedDomain {
  /** The DCs' dNSHostName values (and their first labels). */
  controllers: ReadonlySet<string>;
  /** The domain's DNS name and NetBIOS name. */
  names: ReadonlySet<string>;
}

const SECURITY_PROVIDER = 'microsoft-windows-security-auditing';

/**
 * Why a record is not to be believed, or null when it is: a forwarded Windows event must be a
 * Security-channel event of the Security-Auditing provider, logged by a DC of the watched
 * domain, about that domain. A workstation's local-SAM 4738 ("WKS01\\Administrator changed a
 * user account") names an account of the same name but is no change to the directory.
 * Samba's own audit log is the DC's and needs no check.
 */
export function untrustedBecause(record: AuditRecord, domain: WatchedDomain): string | null {
  const origin = record.origin;
  if (origin === undefined) return null;
  if (origin.channel?.toLowerCase() !== 'security')
    return `channel ${origin.channel ?? '(none)'}, not Security`;
  if (origin.provider?.toLowerCase() !== SECURITY_PROVIDER) {
    return `provider ${origin.provider ?? '(none)'}, not Microsoft-Windows-Security-Auditing`;
  }
  const computer = origin.computer?.toLowerCase() ?? '';
  if (!domain.controllers.has(computer))
    return `logged by ${origin.computer ?? '(no computer)'}, not a DC of the domain`;
  if (origin.domain !== null && !domain.names.has(origin.domain.toLowerCase())) {
    return `about domain ${origin.domain}, not the watched one`;
  }
  return null;
}

/** The SID of the DC itself (NT AUTHORITY\SYSTEM). */
export const SYSTEM_SID = 'S-1-5-18';

/**
 * A SID in its text form (MS-DTYP 2.4.2.1): "S-1-", the authority, up to 15 sub-authorities.
 * A record's SID goes into an LDAP filter: anything else ("*", "S-1-5-21-1(") is refused.
 */
export function isSid(text: string): boolean {
  return /^S-1-\d{1,15}(-\d{1,10}){0,15}$/.test(text);
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' && v !== '-' ? v : null);

/** The JSON object of a line: the whole line, or what follows a debug header. */
function jsonOf(line: string): Json | undefined {
  const start = line.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value: unknown = JSON.parse(line.slice(start));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Samba writes "2026-12-02T03:47:55.933488+0000": make it ISO 8601 that Date parses. */
function isoTime(text: unknown): string | null {
  if (typeof text !== 'string') return null;
  const fixed = text.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const ms = Date.parse(fixed);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

const sidOrNull = (v: unknown): string | null => {
  const text = str(v);
  return text !== null && isSid(text) ? text : null;
};

const guidOf = (v: unknown): string | null => {
  const text = str(v);
  return text === null ? null : text.replace(/[{}]/g, '').toLowerCase();
};

/** One Samba audit line: none, one or several records (a Modify: one per attribute). */
export function parseSambaAudit(line: string): AuditRecord[] {
  const json = jsonOf(line);
  if (!json) return [];
  const at = isoTime(json['timestamp']);
  const change = json['dsdbChange'];
  if (at !== null && isObject(change)) return sambaChange(at, change);
  const group = json['groupChange'];
  if (at !== null && isObject(group)) return sambaGroupChange(at, group);
  return [];
}

function sambaChange(at: string, c: Json): AuditRecord[] {
  const actorSid = str(c['userSid']);
  const dn = str(c['dn']);
  if (actorSid === null || dn === null || c['statusCode'] !== 0) return [];
  const base = { at, actorSid, actorAccount: null, objectGuid: null, dn, account: null, member: null };
  switch (c['operation']) {
    case 'Add':
      return [{ ...base, operation: 'add', attribute: null }];
    case 'Delete':
      return [{ ...base, operation: 'delete', attribute: null }];
    case 'Rename':
      return [{ ...base, operation: 'move', attribute: null }];
    case 'Modify':
      break;
    default:
      return [];
  }
  const attributes = isObject(c['attributes']) ? c['attributes'] : {};
  const out: AuditRecord[] = [];
  for (const [attribute, detail] of Object.entries(attributes)) {
    if (attribute.toLowerCase() !== 'member') {
      out.push({ ...base, operation: 'modify', attribute });
      continue;
    }
    // Member values are extended DNs; the values of any other attribute are never kept.
    const actions = isObject(detail) && Array.isArray(detail['actions']) ? detail['actions'] : [];
    for (const action of actions.filter(isObject)) {
      const values = Array.isArray(action['values']) ? action['values'].filter(isObject) : [];
      const operation = action['action'] === 'delete' ? 'member-remove' : 'member-add';
      for (const value of values) {
        const text = str(value['value']);
        if (text !== null)
          out.push({ ...base, operation, attribute: 'member', member: parseExtendedDn(text) });
      }
    }
  }
  return out;
}

function sambaGroupChange(at: string, g: Json): AuditRecord[] {
  const actorSid = str(g['userSid']);
  const group = str(g['group']);
  const user = str(g['user']);
  const action = g['action'];
  if (actorSid === null || group === null || user === null || g['statusCode'] !== 0) return [];
  if (action !== 'Added' && action !== 'Removed') return []; // PrimaryGroup: not a member change
  return [
    {
      at,
      actorSid,
      actorAccount: null,
      operation: action === 'Added' ? 'member-add' : 'member-remove',
      objectGuid: null,
      dn: group,
      account: null,
      attribute: 'member',
      member: parseExtendedDn(user),
    },
  ];
}

interface WindowsEvent {
  id: number;
  at: string;
  data: Json;
  channel: string | null;
  provider: string | null;
  computer: string | null;
}

/** The event's number, time, fields and provenance, from a Winlogbeat or an OpenWEC line. */
function windowsEvent(json: Json): WindowsEvent | undefined {
  const winlog = json['winlog'];
  if (isObject(winlog)) {
    const id = Number(winlog['event_id']);
    const at = isoTime(json['@timestamp']);
    const data = isObject(winlog['event_data']) ? winlog['event_data'] : {};
    if (!Number.isInteger(id) || at === null) return undefined;
    const channel = str(winlog['channel']);
    const provider = str(winlog['provider_name']);
    return { id, at, data, channel, provider, computer: str(winlog['computer_name']) };
  }
  const system = json['System'];
  if (isObject(system)) {
    const id = Number(system['EventID']);
    const created = system['TimeCreated'];
    const at = isoTime(isObject(created) ? created['SystemTime'] : created);
    const data = isObject(json['EventData']) ? json['EventData'] : {};
    if (!Number.isInteger(id) || at === null) return undefined;
    const provider = system['Provider'];
    return {
      id,
      at,
      data,
      channel: str(system['Channel']),
      provider: isObject(provider) ? str(provider['Name']) : str(provider),
      computer: str(system['Computer']),
    };
  }
  return undefined;
}

const MEMBER_ADDED = new Set([4728, 4732, 4756]);
const MEMBER_REMOVED = new Set([4729, 4733, 4757]);
const ACCOUNT_CHANGED = new Set([4720, 4722, 4725, 4726, 4738]);

/** One forwarded Windows Security event: none or one record. */
export function parseWindowsEvent(line: string): AuditRecord[] {
  const json = jsonOf(line);
  const event = json && windowsEvent(json);
  if (!event) return [];
  const { id, at, data } = event;
  const actorSid = str(data['SubjectUserSid']);
  if (actorSid === null) return [];
  const user = str(data['SubjectUserName']);
  const domain = str(data['SubjectDomainName']);
  const origin: AuditOrigin = {
    channel: event.channel,
    provider: event.provider,
    computer: event.computer,
    domain: str(data['DSName']) ?? str(data['TargetDomainName']),
  };
  const base = {
    at,
    actorSid,
    actorAccount: user === null ? null : domain === null ? user : `${domain}\\${user}`,
    objectGuid: guidOf(data['ObjectGUID']),
    dn: str(data['ObjectDN']),
    account: null,
    attribute: null,
    member: null,
    origin,
  };
  if (id === 5136) {
    const attribute = str(data['AttributeLDAPDisplayName']);
    if (attribute === null) return [];
    const type = str(data['OperationType']) ?? '';
    const deleted = type === '%%14675' || /deleted/i.test(type);
    if (attribute.toLowerCase() === 'member') {
      const value = str(data['AttributeValue']);
      return [
        {
          ...base,
          operation: deleted ? 'member-remove' : 'member-add',
          attribute,
          member: value === null ? null : parseExtendedDn(value),
        },
      ];
    }
    return [{ ...base, operation: 'modify', attribute }];
  }
  if (id === 5137) return [{ ...base, operation: 'add' }];
  if (id === 5141) return [{ ...base, operation: 'delete' }];
  if (id === 5139) return [{ ...base, operation: 'move', dn: str(data['NewObjectDN']) }];
  const target = str(data['TargetUserName']);
  if (MEMBER_ADDED.has(id) || MEMBER_REMOVED.has(id)) {
    const memberDn = str(data['MemberName']);
    return [
      {
        ...base,
        operation: MEMBER_ADDED.has(id) ? 'member-add' : 'member-remove',
        account: target,
        attribute: 'member',
        member: { dn: memberDn, guid: null, sid: sidOrNull(data['MemberSid']) },
      },
    ];
  }
  if (ACCOUNT_CHANGED.has(id) && target !== null) {
    const operation = id === 4720 ? 'add' : id === 4726 ? 'delete' : 'modify';
    return [{ ...base, operation, account: target }];
  }
  return [];
}
