/**
 * What the daemon needs from a runner: start a task the pass chose, kill
 * one (by invocation, or by job and node for the API), forgive a job, and
 * stop everything. The local runner is one implementation; a
 * remote-worker runner will be another.
 */
import type { KillRequest } from '../config/killRequest.js';
import type { TaskStart } from '../scheduler/pass.js';
import type { RunningTask } from '../statuses/runningTask.js';
import type { KillOutcome, TaskUsage } from '../supervisor/taskSpec.js';

export type TaskKillOutcome = KillOutcome & {
  readonly invocationId: string;
  readonly request: KillRequest;
};

/** A task that completed, for metrics. */
export interface FinishedTask {
  readonly invocationId: string;
  readonly job: string;
  /** Its status label: done, error_backoff, incomplete_backoff... */
  readonly status: string;
  readonly durationSec: number;
}

export interface AbandonedTask {
  readonly invocationId: string;
  readonly job: string;
  readonly node: string;
  readonly pids: readonly number[];
}

/** A start the runner declined: no worker fits (`no_fit`), or none can run anything (`no_worker`). */
export interface StartRefusal {
  readonly refused: 'no_worker' | 'no_fit';
  readonly reason: string;
}

export interface Runner {
  /** False for runners whose tasks cannot be killed (dry run): orphan timers are then forgotten. */
  readonly canKill: boolean;
  /**
   * Records the task as running and starts it; completion is reported to the
   * status store by the runner. A remote runner may decline (no worker fits).
   */
  start(task: TaskStart, now: number): RunningTask | StartRefusal;
  /** Before a pass's starts (a remote runner reads its workers' room afresh). */
  beginPass?(): void;
  /** Problems placing tasks (a worker resource below zero), for the error registry. */
  placementProblems?(): readonly string[];
  kill(invocationId: string, request: KillRequest, reason: string): KillOutcome;
  /**
   * Kills the running task of (job, node) with its job's kill request (the
   * settings' for a deleted job); throws UnknownTaskError when none runs.
   */
  killTask(job: string, node: string, reason: string): TaskKillOutcome;
  /** Lets failed and backed-off tasks of `job` run again; throws UnknownTaskError for a job never seen. */
  forgive(job: string): void;
  /** Kills every task with its own request and waits until all are complete. */
  stopAll(requestFor: (task: RunningTask) => KillRequest, reason: string): Promise<void>;
  /** A shutdown's last resort: SIGKILL everything of every task in reach, escaped descendants included. */
  killReachable(reason: string): void;
  /**
   * Completes every task still not confirmed dead, recording why; returns
   * them with the pids still found holding their pipes or marker.
   */
  abandonAll(reason: string): AbandonedTask[];
  /** CPU and memory of a running task, where containment accounts for it. */
  usage(invocationId: string): TaskUsage;
  /** Invocations that survived SIGKILL past the unkillable timeout. */
  unkillable(): ReadonlySet<string>;
}
