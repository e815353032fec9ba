/**
 * Crontab items for `add_time`.
 *
 * Epoch items select epoch seconds directly and ignore time zones. Standard
 * items select wall-clock minutes in the process's local time zone; their
 * `dst_fixes` say what to do with a time skipped by a spring-forward jump
 * (`skip` it, or `unskip`: fire 1 s before the jump) and with a time repeated
 * by a fall-back (`repeat_use_both`, `repeat_use_only_early`,
 * `repeat_use_only_late`).
 */
import { describeValue } from '../../config/issues.js';
import { isPlainObject } from '../../config/reader.js';
import { instantsOf, jumpInstantFor, type CivilTime } from './localTime.js';
import {
  DAY_OF_MONTH,
  DAY_OF_WEEK,
  EPOCH,
  HOUR,
  MINUTE,
  MONTH,
  parseProgression,
  parseValueSet,
  progressionBetween,
  YEAR,
  type ValueSet,
} from './selector.js';

export interface CrontabItem {
  /** Event instants t with low < t <= high, increasing, without duplicates. */
  eventsBetween(low: number, high: number): number[];
}

const SKIP_FIXES = ['skip', 'unskip'] as const;
const REPEAT_FIXES = ['repeat_use_both', 'repeat_use_only_early', 'repeat_use_only_late'] as const;
const STANDARD_KEYS = new Set([
  'minute',
  'hour',
  'day_of_month',
  'day_of_week',
  'month',
  'year',
  'dst_fixes',
]);

/** Parses one crontab item; returns a message on error. */
export function parseCrontabItem(input: unknown): CrontabItem | string {
  if (!isPlainObject(input)) return `expected a crontab object, received ${describeValue(input)}`;
  if ('epoch' in input) {
    const extra = Object.keys(input).filter((key) => key !== 'epoch');
    if (extra.length > 0)
      return `an epoch item takes only the key "epoch", found ${extra.map((k) => JSON.stringify(k)).join(', ')}`;
    const progression = parseProgression(input['epoch'], EPOCH);
    if (typeof progression === 'string') return progression;
    return { eventsBetween: (low, high) => progressionBetween(progression, low, high) };
  }
  return parseStandardItem(input);
}

function parseStandardItem(input: Record<string, unknown>): CrontabItem | string {
  for (const key of Object.keys(input)) {
    if (!STANDARD_KEYS.has(key)) return `unknown crontab key ${JSON.stringify(key)}`;
  }
  if (input['minute'] === undefined) return 'required key "minute" is missing';
  if (input['dst_fixes'] === undefined) return 'required key "dst_fixes" is missing';
  if (input['day_of_month'] !== undefined && input['day_of_week'] !== undefined) {
    return '"day_of_month" and "day_of_week" cannot both be set';
  }
  const fixes = parseDstFixes(input['dst_fixes']);
  if (typeof fixes === 'string') return fixes;
  const sets: ValueSet[] = [];
  for (const field of [MINUTE, HOUR, DAY_OF_MONTH, DAY_OF_WEEK, MONTH, YEAR]) {
    const raw = input[field.name];
    const set = raw === undefined ? parseValueSet([], field) : parseValueSet(raw, field);
    if (typeof set === 'string') return set;
    sets.push(set);
  }
  const [minutes, hours, daysOfMonth, daysOfWeek, months, years] = sets as [
    ValueSet,
    ValueSet,
    ValueSet,
    ValueSet,
    ValueSet,
    ValueSet,
  ];
  const matchers = {
    dayOfMonth: toMask(daysOfMonth, 32),
    dayOfWeek: toMask(daysOfWeek, 8),
    month: toMask(months, 13),
    year: new Set(years),
  };
  const dateMatches = (year: number, month: number, day: number, weekday: number): boolean =>
    matchers.year.has(year) &&
    matchers.month[month] === 1 &&
    matchers.dayOfMonth[day] === 1 &&
    matchers.dayOfWeek[weekday] === 1;
  if (!someDateMatches(years, dateMatches))
    return 'the selector never matches any date (does your selector never match?)';

  return {
    eventsBetween(low, high) {
      const out = new Set<number>();
      // Walk calendar days (as UTC dates) covering the local dates of the window, with a day of slack.
      const startDay = Math.floor(low / 86400) - 2;
      const endDay = Math.floor(high / 86400) + 2;
      for (let dayNumber = startDay; dayNumber <= endDay; dayNumber++) {
        const date = new Date(dayNumber * 86400 * 1000);
        const year = date.getUTCFullYear();
        const month = date.getUTCMonth() + 1;
        const day = date.getUTCDate();
        if (!dateMatches(year, month, day, date.getUTCDay() + 1)) continue;
        for (const hour of hours) {
          for (const minute of minutes) {
            for (const instant of resolveCivil({ year, month, day, hour, minute }, fixes)) {
              if (instant > low && instant <= high) out.add(instant);
            }
          }
        }
      }
      return [...out].sort((a, b) => a - b);
    },
  };
}

interface DstFixes {
  readonly skip: (typeof SKIP_FIXES)[number];
  readonly repeat: (typeof REPEAT_FIXES)[number];
}

function parseDstFixes(input: unknown): DstFixes | string {
  const expected = `"dst_fixes" must be an array with exactly one of ${SKIP_FIXES.join('/')} and exactly one of ${REPEAT_FIXES.join('/')}`;
  if (!Array.isArray(input)) return `${expected}, received ${describeValue(input)}`;
  const skips = input.filter((item) => (SKIP_FIXES as readonly unknown[]).includes(item));
  const repeats = input.filter((item) => (REPEAT_FIXES as readonly unknown[]).includes(item));
  if (skips.length !== 1 || repeats.length !== 1 || input.length !== 2)
    return `${expected}, received ${describeValue(input)}`;
  return { skip: skips[0] as DstFixes['skip'], repeat: repeats[0] as DstFixes['repeat'] };
}

function resolveCivil(civil: CivilTime, fixes: DstFixes): number[] {
  const instants = instantsOf(civil);
  if (instants.length === 1) return instants;
  if (instants.length === 0) return fixes.skip === 'unskip' ? [jumpInstantFor(civil) - 1] : [];
  if (fixes.repeat === 'repeat_use_only_early') return [instants[0]!];
  if (fixes.repeat === 'repeat_use_only_late') return [instants[instants.length - 1]!];
  return instants;
}

function toMask(values: ValueSet, size: number): Uint8Array {
  const mask = new Uint8Array(size);
  for (const value of values) mask[value] = 1;
  return mask;
}

/** Whether any real date matches, searching up to 400 matching years (a full Gregorian cycle). */
function someDateMatches(
  years: ValueSet,
  matches: (y: number, m: number, d: number, w: number) => boolean,
): boolean {
  for (const year of years.slice(0, 400)) {
    for (let month = 1; month <= 12; month++) {
      const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
      for (let day = 1; day <= days; day++) {
        if (matches(year, month, day, new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1)) return true;
      }
    }
  }
  return false;
}
