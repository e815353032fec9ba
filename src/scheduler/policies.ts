/**
 * Scheduling policies. Each job's candidates are consumed in
 * the configured node order, each node tried once per pass whether or not it started.
 */
import type { PolicyName } from '../config/settings.js';
import type { RandomSource } from './random.js';

export interface JobCandidates {
  readonly priority: number;
  /** How many candidates the job had when its list was built (what long_tail ranks by). */
  readonly count: number;
  /** No candidate is left to try this pass. */
  readonly exhausted: boolean;
}

/** Tries the job's next candidate; true if a task was started. Marks the job exhausted when none is left. */
export type TryStart = (job: JobCandidates) => boolean;

const hasMore = (job: JobCandidates): boolean => !job.exhausted;

/** Tries the job's next candidates until one starts; false if its list ran out first. */
function startOne(job: JobCandidates, tryStart: TryStart): boolean {
  while (hasMore(job)) if (tryStart(job)) return true;
  return false;
}

function exhaust(job: JobCandidates, tryStart: TryStart): void {
  while (hasMore(job)) tryStart(job);
}

/** Every job gets at most one new task per round, round after round. */
function roundRobin(jobs: readonly JobCandidates[], tryStart: TryStart): void {
  let active = jobs.filter(hasMore);
  while (active.length > 0) {
    for (const job of active) startOne(job, tryStart);
    active = active.filter(hasMore);
  }
}

/** Picks jobs at random with probability proportional to priority, one task per pick. */
function randomizedPriority(jobs: readonly JobCandidates[], tryStart: TryStart, random: RandomSource): void {
  const active = jobs.filter(hasMore);
  while (active.length > 0) {
    // Negative priorities weigh nothing: such jobs go only when every active job weighs nothing.
    const total = active.reduce((sum, job) => sum + Math.max(0, job.priority), 0);
    let pick = active.length - 1;
    if (total > 0) {
      let point = random.next() * total;
      for (let i = 0; i < active.length; i++) {
        point -= Math.max(0, active[i]!.priority);
        if (point < 0) {
          pick = i;
          break;
        }
      }
    } else {
      pick = Math.floor(random.next() * active.length);
    }
    const job = active[pick]!;
    startOne(job, tryStart);
    if (!hasMore(job)) active.splice(pick, 1);
  }
}

/** Highest priority first; each job starts all it can before the next (ties keep the random job order). */
function rankedPriority(jobs: readonly JobCandidates[], tryStart: TryStart): void {
  for (const job of [...jobs].sort((a, b) => b.priority - a.priority)) exhaust(job, tryStart);
}

/** Fewest candidates first: jobs closest to completion go first. */
function longTail(jobs: readonly JobCandidates[], tryStart: TryStart): void {
  for (const job of [...jobs].sort((a, b) => a.count - b.count)) exhaust(job, tryStart);
}

export function runPolicy(
  policy: PolicyName,
  jobs: readonly JobCandidates[],
  tryStart: TryStart,
  random: RandomSource,
): void {
  switch (policy) {
    case 'roundrobin':
      return roundRobin(jobs, tryStart);
    case 'randomized_priority':
      return randomizedPriority(jobs, tryStart, random);
    case 'ranked_priority':
      return rankedPriority(jobs, tryStart);
    case 'long_tail':
      return longTail(jobs, tryStart);
  }
}
