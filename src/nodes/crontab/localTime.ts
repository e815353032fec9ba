/**
 * Local wall-clock time <-> epoch seconds in the process's time zone (TZ),
 * including the two DST cases a wall-clock time can fall into: skipped by a
 * spring-forward jump (no instant), or repeated by a fall-back (two instants).
 */

export interface CivilTime {
  readonly year: number;
  /** 1-12 */
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

/** UTC offset in seconds east of Greenwich at an instant. */
export function utcOffsetAt(epochSec: number): number {
  return -new Date(epochSec * 1000).getTimezoneOffset() * 60;
}

/** The civil time as if it were UTC, in seconds. */
function asUtc(civil: CivilTime): number {
  return Date.UTC(civil.year, civil.month - 1, civil.day, civil.hour, civil.minute) / 1000;
}

/** Every instant whose local time is `civil`: none (skipped), one, or two (repeated), increasing. */
export function instantsOf(civil: CivilTime): number[] {
  const naive = asUtc(civil);
  const offsets = new Set([utcOffsetAt(naive - 86400), utcOffsetAt(naive), utcOffsetAt(naive + 86400)]);
  const out: number[] = [];
  for (const offset of offsets) {
    const instant = naive - offset;
    if (utcOffsetAt(instant) === offset) out.push(instant);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/**
 * For a skipped civil time, the instant of the jump that skipped it (the
 * first instant with the new offset).
 */
export function jumpInstantFor(civil: CivilTime): number {
  const naive = asUtc(civil);
  const before = utcOffsetAt(naive - 86400);
  const after = utcOffsetAt(naive + 86400);
  // Searching (naive - after, naive - before]: the offset changes in there.
  let low = naive - Math.max(before, after);
  let high = naive - Math.min(before, after);
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (utcOffsetAt(mid) === before) low = mid;
    else high = mid;
  }
  return high;
}
