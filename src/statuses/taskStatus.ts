/**
 * Task statuses: bit sets with exactly one "current" bit
 * and optional modifiers, timestamped by the scheduler.
 *
 * `backoffSec` is how long to wait before the task may run again;
 * `progressSec` is its position in the job's backoff list (what the next
 * error advances from). They differ only for `incomplete_backoff`, which
 * waits the current step without advancing.
 */

export const StatusBits = {
  UNSTARTED: 1,
  RUNNING: 2,
  DONE: 4,
  INCOMPLETE: 8,
  FAILED: 16,
  ERROR: 32,
  USES_BACKOFF: 64,
  AVOIDED: 128,
  DISABLED: 256,
  DOES_NOT_ADVANCE_BACKOFF: 512,
  OVERWRITEABLE: 1024,
  HAS_SAVED_BACKOFF: 2048,
} as const;

const B = StatusBits;
/** Bits that name what the task is doing or did. */
export const CURRENT_STATUS_BITS = B.UNSTARTED | B.RUNNING | B.DONE | B.INCOMPLETE | B.FAILED | B.ERROR;
export const ALL_KNOWN_BITS = 4095;

export interface TaskStatus {
  readonly bits: number;
  /** Epoch seconds when the scheduler recorded it. */
  readonly time: number;
  readonly backoffSec: number;
  readonly progressSec: number;
  /** The task's `data`, or the scheduler's explanation (`exception`). */
  readonly data?: unknown;
}

export const isRunning = (s: TaskStatus): boolean => (s.bits & B.RUNNING) !== 0;
export const isDone = (s: TaskStatus): boolean => (s.bits & B.DONE) !== 0;
export const isFailed = (s: TaskStatus): boolean => (s.bits & B.FAILED) !== 0;
export const isInBackoff = (s: TaskStatus, now: number): boolean =>
  (s.bits & B.USES_BACKOFF) !== 0 && s.time + s.backoffSec > now;

/** Statuses the scheduler creates itself. */
export const Synthesized = {
  running: (time: number): TaskStatus => ({ bits: B.RUNNING, time, backoffSec: 0, progressSec: 0 }),
  noStatusAfterExit: 'Failed to read a status',
  noStatusAfterKill: 'Task killed, no status returned',
} as const;

/** The JSON form handed to tasks as `prev_status`. */
export function statusJson(status: TaskStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { result_bits: status.bits };
  if (status.data !== undefined) out.data = status.data;
  out.time = status.time;
  if ((status.bits & B.USES_BACKOFF) !== 0 && status.backoffSec > 0) out.backoff_duration = status.backoffSec;
  return out;
}

/** Short name for humans: `done`, `error_backoff`, `failed`, ... */
export function statusLabel(bits: number): string {
  if (bits & B.RUNNING) return 'running';
  if (bits & B.DONE) return 'done';
  if (bits & B.FAILED) return 'failed';
  if (bits & B.INCOMPLETE) return bits & B.USES_BACKOFF ? 'incomplete_backoff' : 'incomplete';
  if (bits & B.ERROR) return bits & B.USES_BACKOFF ? 'error_backoff' : 'error';
  if (bits & B.UNSTARTED) return 'unstarted';
  return `bits_${bits}`;
}

const CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Histogram code of a bit set: bits mod 64, then bits div 64 when >= 64. */
export function statusCode(bits: number): string {
  const low = CODE_ALPHABET[bits % 64]!;
  return bits >= 64 ? low + CODE_ALPHABET[Math.floor(bits / 64) % 64]! : low;
}

export function bitsFromCode(code: string): number {
  const low = CODE_ALPHABET.indexOf(code[0] ?? '');
  const high = code.length > 1 ? CODE_ALPHABET.indexOf(code[1]!) : 0;
  if (low < 0 || high < 0 || code.length > 2)
    throw new RangeError(`invalid status code ${JSON.stringify(code)}`);
  return low + 64 * high;
}
