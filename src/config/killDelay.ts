/**
 * Delays such as `kill_orphan_tasks_after_sec` and
 * `kill_tasks_exceeding_resources_after_sec`: `true` = 0 s,
 * `false` or a negative number = never, a number >= 0 = that many seconds
 * (fractional allowed). `null` here means "never".
 */
import { describeValue } from './issues.js';

export type KillDelaySec = number | null;

export function parseKillDelay(input: unknown): KillDelaySec | string {
  if (input === true) return 0;
  if (input === false) return null;
  if (typeof input === 'number' && Number.isFinite(input)) return input < 0 ? null : input + 0; // + 0 turns -0 into 0
  return `expected true, false or a number of seconds, received ${describeValue(input)}`;
}

export function serializeKillDelay(delay: KillDelaySec): number | false {
  return delay === null ? false : delay;
}
