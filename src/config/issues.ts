/**
 * Config problems, recorded field by field.
 *
 * Parsing is lenient in Bistro's way: every field starts at its default, a
 * field that fails keeps the default and records an issue, and parsing goes
 * on so that one run reports every problem at once. Issues carry the key path
 * so a message can say exactly where the mistake is; a job's issues are also
 * turned into Bistro's `errors` record for the `jobs` API.
 */
import { ownChild, setOwn } from '../text/ownKeys.js';

export type KeyPath = readonly (string | number)[];

export interface ConfigIssue {
  /** Path from the top of the config file, e.g. ['bistro_job->x', 'resources', 'host_concurrency']. */
  readonly path: KeyPath;
  readonly message: string;
  /** `missing`: a required key is absent; `invalid`: the value is wrong. */
  readonly kind: 'missing' | 'invalid';
  /** The offending input (for `missing`: the object that lacks the key). */
  readonly value?: unknown;
}

/** Bistro's DynamicParser error record. */
export interface ErrorRecord {
  key_errors?: Record<string, string>;
  nested?: Record<string, ErrorRecord>;
  error?: string;
  value?: unknown;
}

/** `bistro_job->x.resources.host_concurrency`, `bistro_settings.backoff[2]`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(top level)' : out;
}

export function formatIssue(issue: ConfigIssue): string {
  return `${formatKeyPath(issue.path)}: ${issue.message}`;
}

/** Describes a received value for messages: `"3" (string)`, `-1 (number)`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `${truncate(JSON.stringify(value))} (array)`;
  if (typeof value === 'object') return `${truncate(JSON.stringify(value))} (object)`;
  return `${truncate(JSON.stringify(value))} (${typeof value})`;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Builds the `errors` record from issues whose paths are relative to `input`
 * (the job object). Inverse direction is `issuesFromErrorRecord`.
 */
export function errorRecordFromIssues(issues: readonly ConfigIssue[], input: unknown): ErrorRecord {
  const root: ErrorRecord = {};
  for (const issue of issues) {
    let record = root;
    let level: unknown = input;
    const path = issue.path;
    if (path.length === 0) {
      record.error = issue.message;
      record.value = input;
      continue;
    }
    for (let i = 0; i < path.length - 1; i++) {
      const key = String(path[i]);
      record.nested ??= {};
      record = ownChild(record.nested, key, () => ({}));
      level = childOf(level, path[i]!);
    }
    const last = String(path[path.length - 1]);
    if (issue.kind === 'missing') {
      record.key_errors ??= {};
      setOwn(record.key_errors, last, issue.message);
      record.value = level;
    } else {
      record.nested ??= {};
      const leaf = ownChild(record.nested, last, () => ({}));
      leaf.error = leaf.error === undefined ? issue.message : `${leaf.error}; ${issue.message}`;
      leaf.value = issue.value;
    }
  }
  return root;
}

/** Flattens an `errors` record back into readable issues (for `bistro validate`). */
export function issuesFromErrorRecord(record: ErrorRecord, prefix: KeyPath): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (record.error !== undefined)
    out.push({ path: prefix, message: record.error, kind: 'invalid', value: record.value });
  for (const [key, message] of Object.entries(record.key_errors ?? {})) {
    out.push({ path: [...prefix, key], message, kind: 'missing' });
  }
  for (const [key, nested] of Object.entries(record.nested ?? {})) {
    out.push(...issuesFromErrorRecord(nested, [...prefix, key]));
  }
  return out;
}

function childOf(value: unknown, key: string | number): unknown {
  if (value !== null && typeof value === 'object') return (value as Record<string, unknown>)[key];
  return undefined;
}

/** Thrown for problems that make a whole config unusable (bad JSON, bad settings). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}
