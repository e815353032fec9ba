/**
 * Backoff lists: strictly increasing positive seconds,
 * optionally ended by "repeat" (reuse the last value forever) or "fail"
 * (give up once the list is exhausted, the default). Parsing stops at the
 * first string. The serialized form always ends with "repeat" or "fail".
 */
import { describeValue } from './issues.js';

export interface BackoffSettings {
  /** Seconds, strictly increasing, all > 0. May be empty only with `repeat: false` (`["fail"]`). */
  readonly values: readonly number[];
  readonly repeat: boolean;
}

export const DEFAULT_BACKOFF: BackoffSettings = {
  values: [15, 30, 60, 300, 900, 3600, 7200, 21600, 86400],
  repeat: true,
};

/** Returns the parsed list, or a message saying what is wrong. */
export function parseBackoff(input: unknown): BackoffSettings | string {
  if (!Array.isArray(input) || input.length === 0) {
    return `expected a non-empty array of increasing seconds optionally ending in "repeat" or "fail", received ${describeValue(input)}`;
  }
  const values: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const item: unknown = input[i];
    if (typeof item === 'string') {
      if (item === 'repeat') {
        if (values.length === 0) return `item ${i}: "repeat" needs at least one number before it`;
        return { values, repeat: true };
      }
      if (item === 'fail') return { values, repeat: false };
      return `item ${i}: expected a positive integer, "repeat" or "fail", received ${describeValue(item)}`;
    }
    if (typeof item !== 'number' || !Number.isInteger(item) || item <= 0) {
      return `item ${i}: expected a positive integer number of seconds, received ${describeValue(item)}`;
    }
    const previous = values[values.length - 1];
    if (previous !== undefined && item <= previous) {
      return `item ${i}: values must be strictly increasing, but ${item} follows ${previous}`;
    }
    values.push(item);
  }
  return { values, repeat: false };
}

export function serializeBackoff(backoff: BackoffSettings): (number | string)[] {
  return [...backoff.values, backoff.repeat ? 'repeat' : 'fail'];
}
