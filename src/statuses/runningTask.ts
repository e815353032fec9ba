/** What the scheduler remembers about a task it started, until its final status arrives. */
import type { BackoffAtStart } from './backoff.js';

/** Resources a task holds, frozen at start: node name -> resource name -> amount. */
export type ResourceCharges = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface RunningTask {
  readonly job: string;
  readonly node: string;
  /** Unique per start; kills and statuses must name it. */
  readonly invocationId: string;
  /** Epoch seconds (fractional) when the scheduler started it. */
  readonly startTime: number;
  readonly charges: ResourceCharges;
  readonly backoff: BackoffAtStart;
  readonly workerShard: string;
  /** On a remote worker: the token its completion notice names (the task's spec has it). */
  readonly completionToken?: string;
}

export function taskKey(job: string, node: string): string {
  return `${job}\u0000${node}`;
}
