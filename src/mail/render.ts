/**
 * Rendering notifications: a view of the change (values summarised: long ones cut, long lists
 * counted, binary and redacted values described, control characters made visible) fed to the
 * Handlebars templates, built-in or overridden from delivery.templatesDir. HTML templates
 * escape every value, so a `<script>` in a description is shown, never run; the subject is
 * one line, so CR/LF in a value never reaches a header.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import Handlebars from 'handlebars';

import { actorOfEvent } from '../core/correlate.js';
import type { AttributeChange, DirectoryEvent, ObjectRef } from '../core/events.js';
import type { Reason } from '../core/notify.js';
import { escapeInvisible } from '../core/visible.js';
import { utcText } from '../core/time.js';
import { ConfigError, errorMessage } from '../errors.js';
import {
  BUILTIN_PARTIALS,
  BUILTIN_TEMPLATES,
  TEMPLATE_KINDS,
  TEMPLATE_PARTS,
  type TemplateKind,
  type TemplatePart,
} from './templates.js';

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

const MAX_VALUE_CHARS = 200;
const MAX_VALUES = 10;
const MAX_CHANGES = 50;
const MAX_MEMBERS = 50;
const MAX_SUBJECT_CHARS = 200;

type Compiled = Record<TemplatePart, Handlebars.TemplateDelegate>;

export class Renderer {
  readonly #templates: Map<TemplateKind, Compiled>;
  readonly #reasons: Handlebars.TemplateDelegate;

  private constructor(templates: Map<TemplateKind, Compiled>, reasons: Handlebars.TemplateDelegate) {
    this.#templates = templates;
    this.#reasons = reasons;
  }

  /**
   * Compiles the built-in templates and any overrides in `templatesDir` (`<kind>.<part>.hbs`).
   * A template that does not parse is a configuration error naming the file.
   */
  static load(templatesDir: string | null): Renderer {
    if (templatesDir !== null && !isDirectory(templatesDir)) {
      throw new ConfigError('delivery.templatesDir', [
        {
          path: 'delivery.templatesDir',
          message: `${templatesDir} is not a directory: create it, or set null for the built-in templates`,
        },
      ]);
    }
    const hb = Handlebars.create();
    hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    const compile = (name: string, builtin: string, noEscape: boolean) => {
      let source = builtin;
      let origin = `built-in ${name}`;
      const file = templatesDir === null ? null : join(templatesDir, `${name}.hbs`);
      if (file !== null && existsSync(file)) {
        source = readFileSync(file, 'utf8');
        origin = file;
      }
      try {
        hb.parse(source);
      } catch (err: unknown) {
        throw new ConfigError('delivery.templatesDir', [
          {
            path: 'delivery.templatesDir',
            message: `${origin} is not a valid Handlebars template: ${errorMessage(err)}`,
          },
        ]);
      }
      return hb.compile(source, { noEscape, strict: false });
    };
    const templates = new Map<TemplateKind, Compiled>();
    for (const kind of TEMPLATE_KINDS) {
      const compiled: Partial<Compiled> = {};
      for (const part of TEMPLATE_PARTS) {
        compiled[part] = compile(`${kind}.${part}`, BUILTIN_TEMPLATES[kind][part], part !== 'html');
      }
      templates.set(kind, compiled as Compiled);
    }
    const reasons = compile('reasons.partial', BUILTIN_PARTIALS.reasons, true);
    return new Renderer(templates, reasons);
  }

  /** "you own this group and you are its member": the reasons as a message names them. */
  reasonText(reasons: readonly Reason[]): string {
    return this.#reasons({ reasons: shownReasons(reasons) });
  }

  render(kind: TemplateKind, view: object): RenderedMessage {
    const t = this.#templates.get(kind);
    if (!t) throw new Error(`no template ${kind}`);
    const reasons = (view as { reasons?: unknown }).reasons;
    const full = Array.isArray(reasons) ? { ...view, reasonText: this.#reasons({ reasons }) } : view;
    return { subject: oneLine(t.subject(full)), text: t.text(full), html: t.html(full) };
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL_RUNS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/** A subject line: control characters and line breaks become spaces, and it is kept short. */
export function oneLine(text: string): string {
  const flat = text.replace(CONTROL_RUNS, ' ').replace(/\s+/g, ' ').trim();
  return flat.length <= MAX_SUBJECT_CHARS ? flat : `${flat.slice(0, MAX_SUBJECT_CHARS - 1)}…`;
}

/** A directory value as shown in a message: control characters visible, long ones cut. */
export function showValue(value: string): string {
  const visible = escapeInvisible(value);
  if (visible.length <= MAX_VALUE_CHARS) return visible;
  return `${visible.slice(0, MAX_VALUE_CHARS)}… (${value.length.toLocaleString('en-US')} characters)`;
}

export function showValues(values: readonly string[]): string {
  if (values.length === 0) return '(none)';
  const shown = values.slice(0, MAX_VALUES).map(showValue).join('; ');
  const more = values.length - MAX_VALUES;
  return more > 0 ? `${shown}; and ${more.toLocaleString('en-US')} more` : shown;
}

function changeRow(
  change: AttributeChange,
  shownAs: (attribute: string) => string,
): { attribute: string; before: string; after: string } {
  const attribute = shownAs(change.attribute);
  if ('redacted' in change) return { attribute, before: '(not shown)', after: 'changed (not shown)' };
  if ('binary' in change) {
    const describe = (n: number) => (n === 0 ? '(none)' : `binary value${n > 1 ? `s (${n})` : ''}`);
    return {
      attribute,
      before: describe(change.before.length),
      after: `${describe(change.after.length)}, changed`,
    };
  }
  return { attribute, before: showValues(change.before), after: showValues(change.after) };
}

const KIND: Record<string, string> = { user: 'user', group: 'group', contact: 'contact' };

/**
 * Who made the object's changes this cycle: "Olga Operator (ACME\\oop)", the DN when that is
 * all that is known, several joined when several people changed it; null when unknown.
 */
function actorText(events: readonly DirectoryEvent[]): string | undefined {
  const names: string[] = [];
  for (const event of events) {
    const a = actorOfEvent(event);
    if (!a) continue;
    const who =
      a.name !== null ? (a.account !== null ? `${a.name} (${a.account})` : a.name) : (a.account ?? a.dn);
    const text =
      who !== null && a.serviceAccount ? `${who}, adnotify's service account used by someone else` : who;
    if (text !== null && !names.includes(text)) names.push(text);
  }
  return names.length === 0 ? undefined : names.join(', ');
}

/** The reasons shown: an owner of a public group is told as its owner once. */
function shownReasons(reasons: readonly Reason[]): Reason[] {
  return reasons.filter((r) => !(r === 'publicOwner' && reasons.includes('owner')));
}

/** The first RDN's value: "Alice Smith" for "CN=Alice Smith,OU=Staff,...". */
export function rdnValue(dn: string): string {
  const match = /^[^=]+=((?:\\.|[^,\\])*)/.exec(dn);
  return (match?.[1] ?? dn).replace(/\\(.)/g, '$1');
}

export interface ObjectView {
  dn: string;
  name: string;
  kind: string;
  kindTitle: string;
}

export function objectView(object: ObjectRef, displayName: string | null): ObjectView {
  const kind = KIND[object.class] ?? object.class;
  return {
    dn: showValue(object.dn),
    name: showValue(displayName ?? rdnValue(object.dn)),
    kind,
    kindTitle: kind.charAt(0).toUpperCase() + kind.slice(1),
  };
}

export interface ChangeViewInput {
  object: ObjectRef;
  displayName: string | null;
  events: readonly DirectoryEvent[];
  reasons: readonly Reason[];
  when: Date;
  recipientName?: string | null;
  /** Administrators' copy: who was told. */
  told?: readonly string[];
  /** Display names of members by GUID, where the snapshot knows them. */
  nameOf?: (guid: string | null, dn: string) => string;
  /** Administrators' copy about a protected group (adminCount=1, notify.protectedGroups). */
  protectedGroup?: boolean;
  /** How the directory names attributes to people (display specifiers), by lower-case LDAP name. */
  attributeNames?: ReadonlyMap<string, string>;
}

/**
 * The part of a change view that is the same for every recipient of one object's message:
 * computed once per object (a mass change sends thousands of messages about one group, and
 * each used to name every added member again). Member lists are cut to MAX_MEMBERS before
 * names are looked up.
 */
export function objectChangeView(
  input: Pick<
    ChangeViewInput,
    'object' | 'displayName' | 'events' | 'when' | 'nameOf' | 'protectedGroup' | 'attributeNames'
  >,
) {
  const nameOf = input.nameOf ?? ((_guid: string | null, dn: string) => rdnValue(dn));
  const changes = input.events.flatMap((e) => (e.type === 'object.modified' ? e.changes : []));
  const moved = input.events.find((e) => e.type === 'object.moved');
  const members = (type: 'group.member.added' | 'group.member.removed') => {
    const all = input.events.filter((e) => e.type === type);
    const shown = all
      .slice(0, MAX_MEMBERS)
      .map((e) =>
        'member' in e
          ? { name: showValue(nameOf(e.member.guid, e.member.dn)), dn: showValue(e.member.dn) }
          : undefined,
      )
      .filter((m) => m !== undefined);
    return { shown, more: all.length - shown.length };
  };
  const added = members('group.member.added');
  const removed = members('group.member.removed');
  const actor = actorText(input.events);
  const count = (n: number) => (n > 0 ? n.toLocaleString('en-US') : null);
  return {
    object: objectView(input.object, input.displayName),
    deleted: input.events.some((e) => e.type === 'object.deleted'),
    created: input.events.some((e) => e.type === 'object.created'),
    moved: moved
      ? { from: showValue(moved.from), to: showValue(moved.to), leftScope: moved.leftScope === true }
      : null,
    changes: changes
      .slice(0, MAX_CHANGES)
      .map((c) => changeRow(c, (a) => showValue(input.attributeNames?.get(a.toLowerCase()) ?? a))),
    changesMore: count(changes.length - MAX_CHANGES),
    added: added.shown,
    addedMore: count(added.more),
    removed: removed.shown,
    removedMore: count(removed.more),
    memberName: null,
    when: utcText(input.when),
    actor: actor === undefined ? null : showValue(actor),
    /** An audit source is set, but no record named who made these changes in time. */
    actorUnknown: actor === undefined && input.events.some((e) => e.actor === null),
    protectedGroup: input.protectedGroup === true,
  };
}

export type ObjectChangeView = ReturnType<typeof objectChangeView>;

/**
 * The view every change-like template gets (change, membership, admin-copy): the object's
 * part (pass it as `common` when it was computed already) and the recipient's.
 */
export function changeView(input: ChangeViewInput, common: ObjectChangeView = objectChangeView(input)) {
  return {
    ...common,
    recipientName: input.recipientName ? showValue(input.recipientName) : null,
    reasons: shownReasons(input.reasons),
    addedTo: input.reasons.includes('added'),
    told: (input.told ?? []).map(showValue).join(', '),
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
