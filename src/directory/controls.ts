/**
 * LDAP controls ldapts does not ship.
 */
import { BerWriter, Control } from 'ldapts';

/**
 * LDAP_SERVER_EXTENDED_DN_OID (MS-ADTS 3.1.1.3.4.1.5): DN values come back as
 * `<GUID=...>;<SID=...>;CN=...`. The value SEQUENCE { INTEGER 1 } asks for the
 * string form of the GUID and SID rather than hex.
 * https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/57056773-932c-4e55-9491-e13f49ba580c
 */
export class ExtendedDnControl extends Control {
  static readonly oid = '1.2.840.113556.1.4.529';

  constructor() {
    super(ExtendedDnControl.oid, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    value.startSequence();
    value.writeInt(1);
    value.endSequence();
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/**
 * LDAP_SERVER_NOTIFICATION_OID (MS-ADTS 3.1.1.3.4.1.9): the search stays open and the DC sends
 * an entry each time an object in its scope changes. No value.
 */
export class NotificationControl extends Control {
  static readonly oid = '1.2.840.113556.1.4.528';

  constructor() {
    super(NotificationControl.oid, { critical: true });
  }
}

/**
 * LDAP_SERVER_SHOW_DELETED_OID (MS-ADTS 3.1.1.3.4.1.14): tombstones and deleted objects are
 * returned too, so a cycle sees deletions. No value.
 */
export class ShowDeletedControl extends Control {
  static readonly oid = '1.2.840.113556.1.4.417';

  constructor() {
    super(ShowDeletedControl.oid, { critical: true });
  }
}
