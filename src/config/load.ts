/**
 * Reads the YAML file, resolves secret references, validates against the schema and
 * reports every problem with its key path (and line and column where the file has one).
 */
import { existsSync, readFileSync } from 'node:fs';

import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

import { ConfigError, type ConfigProblem } from '../errors.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  file: string;
  config: Config;
  /** Values that must never be printed: the bind and SMTP passwords. */
  secrets: string[];
  /** Legal but probably not what the administrator meant. */
  warnings: ConfigProblem[];
}

export const DEFAULT_CONFIG_PATHS = ['/etc/adnotify/adnotify.yaml', 'config/adnotify.yaml'] as const;

/** spec/cli.md: --config, else $ADNOTIFY_CONFIG, else /etc/adnotify/adnotify.yaml, else config/adnotify.yaml. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env['ADNOTIFY_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return DEFAULT_CONFIG_PATHS.find((path) => existsSync(path)) ?? DEFAULT_CONFIG_PATHS[1];
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err: unknown) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT'
        ? 'file not found: pass --config PATH or set ADNOTIFY_CONFIG (see config/adnotify.example.yaml)'
        : `cannot read the file (${code ?? String(err)})`;
    throw new ConfigError(file, [{ path: '', message: hint }]);
  }
  return parseConfigText(text, file, env);
}

export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `YAML syntax: ${firstLine(e.message)}`, line: pos.line, column: pos.col };
      }),
    );
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [
      { path: '', message: 'expected a YAML mapping (key: value) at the top level' },
    ]);
  }

  const locate = (path: readonly PropertyKey[]) => locateNode(doc, lineCounter, path);
  const locateKey = (path: readonly PropertyKey[], key: string) => locateKeyNode(doc, lineCounter, path, key);
  const problems: ConfigProblem[] = [];
  const resolved = resolveSecretRefs(raw, [], env, (path, message) =>
    problems.push({ path: formatPath(path), message, ...locate(path) }),
  );
  if (problems.length > 0) throw new ConfigError(file, problems);

  const result = configSchema.safeParse(resolved);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((issue) => toProblem(issue, valueAt(resolved, issue.path), locate, locateKey)),
    );
  }
  const config = result.data;
  return { file, config, secrets: configSecrets(config), warnings: warningsFor(config, locate) };
}

/** The secrets a config holds: redacted from every log line, output and recorded error. */
export function configSecrets(config: Config): string[] {
  return [
    config.directory.bindPassword,
    config.smtp.auth?.pass,
    config.microsoft365?.clientSecret,
    config.state.url,
    ...databasePassword(config.state.url),
    ...config.channels.flatMap((c) => [c.url, c.secret, ...urlSecrets(c.url)]),
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

/** The password in a postgres:// URL, as written and decoded, so that neither form is shown. */
function databasePassword(url: string | undefined): string[] {
  if (url === undefined) return [];
  try {
    const password = new URL(url).password;
    return password === '' ? [] : [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}

/**
 * A webhook URL's parts that are keys (its path and query: Slack's and Teams' tokens), so that
 * an error quoting the URL in another form (decoded, without the host) still hides them.
 */
function urlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    // Short ones ("/hook") are no keys, and redacting them would mangle ordinary paths in logs.
    const pathAndQuery = parsed.pathname + parsed.search;
    const query = parsed.search.slice(1);
    return [pathAndQuery.length >= 20 ? pathAndQuery : '', query.length >= 12 ? query : ''];
  } catch {
    return [];
  }
}

function warningsFor(
  config: Config,
  locate: (path: readonly PropertyKey[]) => Partial<ConfigProblem>,
): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  if (config.notify.loggedInUser && config.directory.actor.source === 'none') {
    warnings.push({
      path: 'notify.loggedInUser',
      message:
        'has no effect while directory.actor.source is "none": Active Directory does not record who made a change',
      ...locate(['notify', 'loggedInUser']),
    });
  }
  if (!config.directory.tls.rejectUnauthorized) {
    warnings.push({
      path: 'directory.tls.rejectUnauthorized',
      message:
        'is false: the domain controller certificate is not verified, so the bind password can be intercepted',
      ...locate(['directory', 'tls', 'rejectUnauthorized']),
    });
  }
  return warnings;
}

const SECRET_REF = /^\$\{(env|file):([^}]*)\}$/;
/** A reference inside a longer value: resolved in state.url only (its password). */
const EMBEDDED_REF = /\$\{(?:env|file):[^}]*\}/;

/**
 * Replaces every string that is exactly "${env:NAME}" or "${file:/path}" with its value
 * (a file's trailing newline trimmed), so passwords can come from systemd credentials or
 * a service's environment; in state.url, references inside the URL too (percent-encoded).
 * Unresolvable references are reported, never left in place.
 */
function resolveSecretRefs(
  value: unknown,
  path: PropertyKey[],
  env: NodeJS.ProcessEnv,
  report: (path: PropertyKey[], message: string) => void,
): unknown {
  if (typeof value === 'string') {
    if (path.join('.') === 'state.url' && EMBEDDED_REF.test(value) && !SECRET_REF.test(value)) {
      // A password inside the database URL: percent-encoded, so that it may hold any character.
      return value.replaceAll(new RegExp(EMBEDDED_REF, 'g'), (ref) =>
        encodeURIComponent(String(resolveSecretRefs(ref, path, env, report))),
      );
    }
    const match = SECRET_REF.exec(value);
    if (!match) return value;
    const [, kind, name = ''] = match;
    if (kind === 'env') {
      const fromEnv = env[name];
      if (fromEnv === undefined) {
        report(path, `environment variable ${name} is not set (referenced as "\${env:${name}}")`);
        return value;
      }
      return fromEnv;
    }
    try {
      return readFileSync(name, 'utf8').replace(/\r?\n$/, '');
    } catch (err: unknown) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      report(path, `cannot read ${name} (${code}) referenced as "\${file:${name}}"`);
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveSecretRefs(item, [...path, i], env, report));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, resolveSecretRefs(item, [...path, key], env, report)]),
    );
  }
  return value;
}

function toProblem(
  issue: z.core.$ZodIssue,
  input: unknown,
  locate: (path: readonly PropertyKey[]) => Partial<ConfigProblem>,
  locateKey: (path: readonly PropertyKey[], key: string) => Partial<ConfigProblem>,
): ConfigProblem {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys' && issue.keys.length === 1) {
    const key = issue.keys[0] ?? '';
    return {
      path: formatPath([...path, key]),
      message: 'unknown key: check the spelling against config/adnotify.example.yaml',
      ...locateKey(path, key),
    };
  }
  if (issue.code === 'unrecognized_keys') {
    return {
      path: formatPath(path),
      message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: check the spelling against config/adnotify.example.yaml`,
      ...locateKey(path, issue.keys[0] ?? ''),
    };
  }
  const shown = isSecretPath(path) ? '(value hidden)' : show(input);
  return { path: formatPath(path), message: describeIssue(issue, input, shown), ...locate(path) };
}

/** Keys whose values are secrets: a config error names the key, never the value. */
const SECRET_KEYS = new Set<PropertyKey>([
  'bindPassword',
  'pass',
  'password',
  'clientSecret',
  'secret',
  'url',
]);

function isSecretPath(path: readonly PropertyKey[]): boolean {
  const last = path.at(-1);
  return last !== undefined && SECRET_KEYS.has(last);
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, shown: string): string {
  switch (issue.code) {
    case 'invalid_type':
      return input === undefined
        ? `required: expected ${issue.expected}`
        : `expected ${issue.expected}, got ${shown}`;
    case 'too_small':
    case 'too_big':
      return typeof input === 'number' ? `${issue.message}, got ${shown}` : issue.message;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${shown}`;
    default:
      return input === undefined || typeof input === 'object'
        ? issue.message
        : `${issue.message}, got ${shown}`;
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Line and column of the YAML node at `path`, or of its nearest ancestor that exists. */
function locateNode(
  doc: Document,
  counter: LineCounter,
  path: readonly PropertyKey[],
): Partial<ConfigProblem> {
  for (let depth = path.length; depth > 0; depth--) {
    const node: unknown = doc.getIn(path.slice(0, depth) as unknown[], true);
    if ((isScalar(node) || isMap(node) || isSeq(node)) && node.range) {
      const pos = counter.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/** Line and column of the key `key` in the mapping at `path` (for unknown keys). */
function locateKeyNode(
  doc: Document,
  counter: LineCounter,
  path: readonly PropertyKey[],
  key: string,
): Partial<ConfigProblem> {
  const parent: unknown = path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true);
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
        const pos = counter.linePos(pair.key.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
  }
  return locateNode(doc, counter, path);
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
