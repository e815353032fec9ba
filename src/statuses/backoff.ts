/**
 * Backoff progression.
 *
 * When a task starts it is given its `NextBackoff`, computed from the job's
 * current backoff list and the progress of its previous status. When its
 * final status arrives:
 *   - no USES_BACKOFF (done, incomplete, failed): progress resets to 0;
 *   - error_backoff: wait the next step and advance to it; with no steps left
 *     the status becomes FAILED;
 *   - incomplete_backoff (also "killed, no status"): wait the current step
 *     (the first step when there is none yet) and do not advance; never FAILED.
 */
import type { BackoffSettings } from '../config/backoff.js';
import type { StatusReport } from './parseStatus.js';
import { StatusBits as B, type TaskStatus } from './taskStatus.js';

/** Nominal wait when the list is exhausted, used only by incomplete_backoff. */
export const NO_MORE_BACKOFFS_NOMINAL_SEC = 60;

export interface NextBackoff {
  readonly seconds: number;
  readonly noMoreBackoffs: boolean;
}

export function nextBackoff(backoff: BackoffSettings, currentSec: number): NextBackoff {
  for (const value of backoff.values)
    if (value > currentSec) return { seconds: value, noMoreBackoffs: false };
  const last = backoff.values[backoff.values.length - 1];
  if (backoff.repeat && last !== undefined) return { seconds: last, noMoreBackoffs: false };
  return { seconds: NO_MORE_BACKOFFS_NOMINAL_SEC, noMoreBackoffs: true };
}

/** What a started task carries so its final status can be computed. */
export interface BackoffAtStart {
  readonly next: NextBackoff;
  /** Progress of the status the run replaced (0 if none or no backoff). */
  readonly previousProgressSec: number;
}

export function backoffAtStart(backoff: BackoffSettings, previous: TaskStatus | undefined): BackoffAtStart {
  const previousProgressSec = previous && previous.bits & B.USES_BACKOFF ? previous.progressSec : 0;
  return { next: nextBackoff(backoff, previousProgressSec), previousProgressSec };
}

/** Turns a task's report into the stored status. */
export function finalStatus(report: StatusReport, atStart: BackoffAtStart, time: number): TaskStatus {
  const base = report.data === undefined ? {} : { data: report.data };
  if (!(report.bits & B.USES_BACKOFF))
    return { bits: report.bits, time, backoffSec: 0, progressSec: 0, ...base };
  if (report.bits & B.DOES_NOT_ADVANCE_BACKOFF) {
    const current = atStart.previousProgressSec > 0 ? atStart.previousProgressSec : atStart.next.seconds;
    return {
      bits: report.bits,
      time,
      backoffSec: current,
      progressSec: atStart.previousProgressSec,
      ...base,
    };
  }
  if (atStart.next.noMoreBackoffs) {
    const bits = (report.bits & ~(B.ERROR | B.USES_BACKOFF)) | B.FAILED;
    return { bits, time, backoffSec: 0, progressSec: 0, ...base };
  }
  return {
    bits: report.bits,
    time,
    backoffSec: atStart.next.seconds,
    progressSec: atStart.next.seconds,
    ...base,
  };
}

/** Forgiveness: FAILED becomes ERROR and backoff is cleared; DONE and RUNNING are untouched. */
export function forgiven(status: TaskStatus): TaskStatus {
  if (status.bits & (B.DONE | B.RUNNING)) return status;
  let bits = status.bits;
  if (bits & B.FAILED) bits = (bits & ~B.FAILED) | B.ERROR;
  if (bits === status.bits && !(bits & B.USES_BACKOFF)) return status;
  return { ...status, bits, backoffSec: 0, progressSec: 0 };
}
