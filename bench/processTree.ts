/** Helpers for benchmarks that start and watch real process trees. */
import { existsSync, readFileSync } from 'node:fs';
import { isLive } from '../src/supervisor/procStat.js';

export const isAlive = isLive;

/** A shell script that starts `count - 1` sleeping children, records every pid in $1, and waits. */
export function treeScript(count: number): string {
  return `echo $$ >> "$1"; i=1; while [ $i -lt ${count} ]; do sleep 1000 & echo $! >> "$1"; i=$((i+1)); done; wait`;
}

export async function readPids(file: string, count: number, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(file)) {
      const pids = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
      if (pids.length >= count && pids.every(isAlive)) return pids;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} pids in ${file}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Polls /proc until every pid is gone; returns the ms elapsed since `since`.
 * The same loop measures every subject. `pollMs` 0 polls between event-loop
 * turns (setImmediate), for a subject in this process; a subject in another
 * process gets a 1 ms sleep instead, so that the measurer does not spin a
 * core the subject needs.
 */
export async function waitAllGone(
  pids: readonly number[],
  since: number,
  timeoutMs = 10_000,
  pollMs = 0,
): Promise<number> {
  let remaining = [...pids];
  while (remaining.length > 0) {
    remaining = remaining.filter(isAlive);
    if (remaining.length === 0) break;
    if (performance.now() - since > timeoutMs)
      throw new Error(`${remaining.length} processes survived ${timeoutMs} ms`);
    await new Promise((resolve) => (pollMs > 0 ? setTimeout(resolve, pollMs) : setImmediate(resolve)));
  }
  return performance.now() - since;
}
