/**
 * Crontab selectors: which values of one field (minute,
 * month, epoch second, ...) match. Forms: an integer; a name where the field
 * has names; an array of those (empty = everything); or an object
 * {"start", "end", "period"} meaning start, start+period, ... <= end.
 * Ranges do not wrap around.
 */
import { describeValue } from '../../config/issues.js';
import { isPlainObject } from '../../config/reader.js';

export interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Lower-case names (3-letter and full) to values. */
  readonly names?: Readonly<Record<string, number>>;
}

/** Matching values in increasing order. */
export type ValueSet = readonly number[];

/** An arithmetic progression or an explicit list; used for epoch seconds. */
export type Progression =
  | { readonly kind: 'list'; readonly values: readonly number[] }
  | { readonly kind: 'range'; readonly start: number; readonly end: number; readonly period: number };

const SELECTOR_KEYS = new Set(['start', 'end', 'period']);

function parseValue(input: unknown, field: FieldSpec): number | string {
  if (typeof input === 'number' && Number.isInteger(input)) {
    if (input < field.min || input > field.max) {
      return `${field.name}: ${input} is out of range [${field.min}, ${field.max}]`;
    }
    return input;
  }
  if (typeof input === 'string' && field.names) {
    const value = field.names[input.toLowerCase()];
    if (value === undefined) return `${field.name}: unknown name ${JSON.stringify(input)}`;
    return value;
  }
  return `${field.name}: expected an integer${field.names ? ' or a name' : ''}, received ${describeValue(input)}`;
}

/** Parses a selector into a progression over [field.min, field.max]. */
export function parseProgression(input: unknown, field: FieldSpec): Progression | string {
  if (Array.isArray(input)) {
    if (input.length === 0) return { kind: 'range', start: field.min, end: field.max, period: 1 };
    const values: number[] = [];
    for (const item of input) {
      const value = parseValue(item, field);
      if (typeof value === 'string') return value;
      values.push(value);
    }
    return { kind: 'list', values: [...new Set(values)].sort((a, b) => a - b) };
  }
  if (isPlainObject(input)) {
    for (const key of Object.keys(input)) {
      if (!SELECTOR_KEYS.has(key))
        return `${field.name}: unknown key ${JSON.stringify(key)} (expected start, end, period)`;
    }
    const start = input['start'] === undefined ? field.min : parseValue(input['start'], field);
    if (typeof start === 'string') return start;
    const end = input['end'] === undefined ? field.max : parseValue(input['end'], field);
    if (typeof end === 'string') return end;
    const period = input['period'] ?? 1;
    if (
      typeof period !== 'number' ||
      !Number.isInteger(period) ||
      period < 1 ||
      period >= field.max - field.min
    ) {
      return `${field.name}: period must be an integer from 1 to ${field.max - field.min - 1}, received ${describeValue(period)}`;
    }
    if (start > end) return `${field.name}: start ${start} is after end ${end}`;
    return { kind: 'range', start, end, period };
  }
  const value = parseValue(input, field);
  if (typeof value === 'string') return value;
  return { kind: 'list', values: [value] };
}

/** Materializes a progression over a small field. */
export function parseValueSet(input: unknown, field: FieldSpec): ValueSet | string {
  const progression = parseProgression(input, field);
  if (typeof progression === 'string') return progression;
  if (progression.kind === 'list') return progression.values;
  const values: number[] = [];
  for (let v = progression.start; v <= progression.end; v += progression.period) values.push(v);
  return values;
}

/** Values of `progression` in the half-open interval (low, high], increasing. */
export function progressionBetween(progression: Progression, low: number, high: number): number[] {
  if (progression.kind === 'list') return progression.values.filter((v) => v > low && v <= high);
  const { start, end, period } = progression;
  const first = low + 1 <= start ? start : start + Math.ceil((low + 1 - start) / period) * period;
  const out: number[] = [];
  for (let v = first; v <= Math.min(end, high); v += period) out.push(v);
  return out;
}

function namesFrom(full: readonly string[], firstValue: number): Record<string, number> {
  const names: Record<string, number> = {};
  full.forEach((name, i) => {
    names[name] = firstValue + i;
    names[name.slice(0, 3)] = firstValue + i;
  });
  return names;
}

export const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
export const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
export const DAY_OF_MONTH: FieldSpec = { name: 'day_of_month', min: 1, max: 31 };
export const DAY_OF_WEEK: FieldSpec = {
  name: 'day_of_week',
  min: 1,
  max: 7,
  names: namesFrom(['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'], 1),
};
export const MONTH: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  names: namesFrom(
    [
      'january',
      'february',
      'march',
      'april',
      'may',
      'june',
      'july',
      'august',
      'september',
      'october',
      'november',
      'december',
    ],
    1,
  ),
};
export const YEAR: FieldSpec = { name: 'year', min: 1969, max: 9999 };
export const EPOCH: FieldSpec = { name: 'epoch', min: 0, max: Number.MAX_SAFE_INTEGER };
