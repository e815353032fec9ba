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
  /**
   * A remote task's completion token: drawn at random by the leader that
   * dispatched it and sent in its spec, which only the worker that claims
   * the row can read; a completion notice is taken only if it names it.
   */
  readonly completionToken?: string;
}

export function taskKey(job: string, node: string): string {
  return `${job}\u0000${node}`;
}
