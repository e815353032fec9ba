/**
 * Field-by-field reading of one JSON object with zod schemas for the leaves.
 *
 * Each read names its key, its schema and its default. A failing field keeps
 * the default and records an issue that names the key path, what was expected
 * and what was received; keys nobody read are reported as warnings, because a
 * typo in a kill setting must not pass silently.
 */
import type { z } from 'zod';
import { describeValue, type ConfigIssue, type KeyPath } from './issues.js';

export interface IssueSink {
  readonly errors: ConfigIssue[];
  readonly warnings: ConfigIssue[];
}

export function newIssueSink(): IssueSink {
  return { errors: [], warnings: [] };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Message for a value that failed `schema`, in the house phrasing. */
export function mismatchMessage(
  schema: z.ZodType,
  value: unknown,
  result: z.ZodSafeParseError<unknown>,
): string {
  const custom = result.error.issues.find((issue) => issue.code === 'custom');
  if (custom) return `${custom.message}, received ${describeValue(value)}`;
  return `expected ${schema.description ?? 'a valid value'}, received ${describeValue(value)}`;
}

export class ObjectReader {
  private readonly readKeys = new Set<string>();

  constructor(
    readonly input: Record<string, unknown>,
    readonly path: KeyPath,
    readonly sink: IssueSink,
  ) {}

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.input, key);
  }

  /** The raw value, marking the key as known. */
  raw(key: string): unknown {
    this.readKeys.add(key);
    return this.has(key) ? this.input[key] : undefined;
  }

  /** Marks keys as known without reading them (handled elsewhere). */
  accept(...keys: string[]): void {
    for (const key of keys) this.readKeys.add(key);
  }

  optional<T>(key: string, schema: z.ZodType<T>, fallback: T): T {
    if (!this.has(key)) {
      this.readKeys.add(key);
      return fallback;
    }
    return this.parse(key, schema, fallback);
  }

  required<T>(key: string, schema: z.ZodType<T>, fallback: T): T {
    if (!this.has(key)) {
      this.readKeys.add(key);
      this.missing(key);
      return fallback;
    }
    return this.parse(key, schema, fallback);
  }

  /** Reads `key` as a nested object; records an error if it is present but not an object. */
  object(key: string, required = false): ObjectReader | undefined {
    const value = this.raw(key);
    if (value === undefined && !this.has(key)) {
      if (required) this.missing(key);
      return undefined;
    }
    if (!isPlainObject(value)) {
      this.invalid([key], `expected an object, received ${describeValue(value)}`, value);
      return undefined;
    }
    return new ObjectReader(value, [...this.path, key], this.sink);
  }

  missing(key: string): void {
    this.sink.errors.push({
      path: [...this.path, key],
      message: `required key "${key}" is missing`,
      kind: 'missing',
      value: this.input,
    });
  }

  invalid(subPath: KeyPath, message: string, value: unknown): void {
    this.sink.errors.push({ path: [...this.path, ...subPath], message, kind: 'invalid', value });
  }

  warn(subPath: KeyPath, message: string): void {
    this.sink.warnings.push({ path: [...this.path, ...subPath], message, kind: 'invalid' });
  }

  /**
   * Marks keys the original accepts but that do nothing here; each present
   * one is a warning that says so and why.
   */
  inert(keys: Readonly<Record<string, string>>): void {
    for (const [key, why] of Object.entries(keys)) {
      this.readKeys.add(key);
      if (this.has(key)) this.warn([key], `"${key}" has no effect here: ${why}`);
    }
  }

  /** Warns about every key that no read asked for. */
  finish(): void {
    const unknown = Object.keys(this.input).filter((key) => !this.readKeys.has(key));
    if (unknown.length > 0) {
      const list = unknown.map((key) => JSON.stringify(key)).join(', ');
      this.warn([], `unknown key${unknown.length > 1 ? 's' : ''} ${list} ignored`);
    }
  }

  private parse<T>(key: string, schema: z.ZodType<T>, fallback: T): T {
    const value = this.raw(key);
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    this.invalid([key], mismatchMessage(schema, value, result), value);
    return fallback;
  }
}
