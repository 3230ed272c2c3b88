/** Samba JSON audit lines (dsdb_json_audit) as the tests write them into an audit file. */

export interface AuditLine {
  /** The actor's objectSid (or anything, to test what is refused). */
  sid: string;
  dn: string;
  /** default: Modify */
  operation?: 'Add' | 'Modify' | 'Delete';
  /** Attributes a Modify changed; their values are never written. */
  attributes?: readonly string[];
  /** default: now */
  at?: Date;
}

/** One line as Samba writes it with `samba -i`, newline included. */
export function sambaAuditLine(line: AuditLine): string {
  const operation = line.operation ?? 'Modify';
  return `${JSON.stringify({
    timestamp: (line.at ?? new Date()).toISOString().replace('Z', '+0000'),
    type: 'dsdbChange',
    dsdbChange: {
      statusCode: 0,
      operation,
      userSid: line.sid,
      dn: line.dn,
      ...(operation === 'Modify'
        ? { attributes: Object.fromEntries((line.attributes ?? []).map((a) => [a, {}])) }
        : {}),
    },
  })}\n`;
}
