/**
 * The scheduler's CPU priority over its tasks. A supervisor that competes
 * with its tasks as an equal is starved exactly when it matters: with the
 * CPU saturated, a kill request or a task's exit waits behind every runnable
 * task. So the daemon lowers its own nice value by `boost` (which needs
 * CAP_SYS_NICE, as root has) and starts every task at the nice value it had
 * before. The raise applies to the calling thread, the event loop, which is
 * where requests, exits and kills are handled, and to the threads it waits
 * on: V8's garbage-collector helpers and the libuv pool. Left at the tasks'
 * level, a scavenge the event loop waits for ran 10–87 ms under a busy CPU
 * (p90 34–62 ms) against p90 18–21 ms boosted (BENCHMARKS.md). Threads
 * started later inherit the raise; the launcher gives tasks their own.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';

const HIGHEST_PRIORITY = -20;

export interface CpuPriority {
  /** The nice value tasks start with: the daemon's own before the boost. */
  readonly taskNice: number;
  /** The daemon's nice value now. */
  readonly schedulerNice: number;
}

/** Sets the nice value of this thread, then of every other thread of the process (Linux). */
export function setProcessNice(nice: number): void {
  setPriority(nice);
  let threads: string[];
  try {
    threads = readdirSync('/proc/self/task');
  } catch {
    return; // no per-thread view here: the event loop alone
  }
  for (const tid of threads) {
    if (Number(tid) === process.pid) continue;
    try {
      setPriority(Number(tid), nice);
    } catch (error) {
      // A thread may end between the listing and the call.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

/** Raises this process's priority by `boost` nice levels if allowed; logs and goes on if not. */
export function boostSchedulerPriority(boost: number, logger: Logger): CpuPriority {
  const taskNice = getPriority();
  const wanted = Math.max(HIGHEST_PRIORITY, taskNice - boost);
  if (boost <= 0 || wanted === taskNice) return { taskNice, schedulerNice: taskNice };
  try {
    setProcessNice(wanted);
    logger.info(
      { scheduler_nice: wanted, task_nice: taskNice },
      'scheduler CPU priority raised above its tasks',
    );
    return { taskNice, schedulerNice: wanted };
  } catch (error) {
    logger.warn(
      { err: error, task_nice: taskNice },
      'cannot raise the scheduler CPU priority above its tasks (needs CAP_SYS_NICE); under full CPU load, kills and API requests wait their turn',
    );
    return { taskNice, schedulerNice: taskNice };
  }
}
