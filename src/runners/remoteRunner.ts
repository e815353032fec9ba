/**
 * The remote runner (`--runner remote`): the leader places each task the
 * pass chose on a healthy worker (WorkerPlacement), records it running,
 * and inserts its `running_tasks` row for that worker's incarnation in one
 * fenced statement that notifies the workers. It never runs a process: the
 * worker claims the row, runs the task and stores its final status in one
 * statement that deletes the row and notifies the leader with that status
 * and the task's completion token, which the leader takes as it is (it does
 * not compute it again); a notice without a valid token, or too large to
 * carry the status, makes the leader read it from the database.
 *
 * Stopping the scheduler does not stop remote tasks: they belong to their
 * workers' leases, and whichever scheduler leads next watches them.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { KillRequest } from '../config/killRequest.js';
import type { Logger } from '../logging/logger.js';
import type { TaskStart } from '../scheduler/pass.js';
import { WorkerPlacement, type WorkerCandidate } from '../scheduler/workerPlacement.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { statusLabel, type TaskStatus } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { KillOutcome, TaskUsage } from '../supervisor/taskSpec.js';
import { remoteTaskSpec, type RemoteTaskSpec } from './remoteTaskSpec.js';
import type { AbandonedTask, FinishedTask, Runner, StartRefusal, TaskKillOutcome } from './runner.js';
import { runningTaskFor } from './runningTaskFor.js';
import { forgiveJob, killTaskByName } from './taskControl.js';
import { Poller } from '../store/postgres/poller.js';
import type { CompletionNotice } from '../store/postgres/remoteTasks.js';

/** How often the leader looks for completions when no notification came. */
const COMPLETION_POLL_MS = 500;

export interface RemoteRunnerDeps {
  readonly statuses: TaskStatuses;
  readonly config: () => Config;
  readonly logger: Logger;
  /** Workers a task may be placed on now. */
  readonly workers: () => readonly WorkerCandidate[];
  /** Whether this scheduler leads (only the leader watches completions). */
  readonly leads: () => boolean;
  /** Inserts the task's row for the worker's incarnation (fenced); resolves once committed. */
  readonly dispatch: (task: RunningTask, incarnation: string, spec: RemoteTaskSpec) => Promise<void>;
  /** Records a kill request on the task's row; its worker applies it. */
  readonly requestKill: (task: RunningTask, request: KillRequest, reason: string) => KillOutcome;
  /** Of these tasks, the ones whose row is gone, with the status stored for their (job, node). */
  readonly completed: (
    tasks: readonly RunningTask[],
  ) => Promise<{ readonly invocationId: string; readonly status: TaskStatus }[]>;
  readonly onComplete?: (finished: FinishedTask) => void;
}

export class RemoteRunner implements Runner {
  readonly canKill = true;
  private placement: WorkerPlacement | undefined;
  private cursor: string | undefined;
  /** Dispatches not yet committed; a kill meanwhile is sent once the row exists. */
  private readonly pending = new Map<
    string,
    { kill?: { request: KillRequest; reason: string }; completed?: TaskStatus }
  >();
  private readonly completions: Poller;

  constructor(private readonly deps: RemoteRunnerDeps) {
    this.completions = new Poller(
      () => this.poll(),
      COMPLETION_POLL_MS,
      (error) => deps.logger.debug({ err: error }, 'completion poll failed'),
    );
  }

  /** Starts watching for completions. */
  watchCompletions(): void {
    this.completions.start();
  }

  /** Looks for completions now (a notification came). */
  wake(): void {
    this.completions.wake();
  }

  /**
   * A completion notification: the statuses it carries are the ones their
   * worker committed, applied at once when each names its task's token;
   * one without (too large, or a reconnect) wakes the poll.
   */
  notified(notices: readonly CompletionNotice[] | undefined): void {
    if (!notices) {
      this.wake();
      return;
    }
    if (!this.deps.leads()) return;
    const now = Date.now() / 1000;
    for (const { invocationId, job, node, token, status } of notices) {
      const task = this.deps.statuses.runningTask(job, node);
      // Not running here (any more): the poll, a loss or an earlier notice took it.
      if (task?.invocationId !== invocationId) continue;
      if (task.completionToken === undefined || token !== task.completionToken) {
        // Not provably from the worker that runs it (or dispatched by another leader): the database says.
        this.wake();
        continue;
      }
      const pending = this.pending.get(invocationId);
      if (pending) {
        // Its worker finished before this leader heard its dispatch commit.
        pending.completed = status;
        continue;
      }
      this.finish(task, status, now);
    }
  }

  /** A new pass: workers and their room are read afresh. */
  beginPass(): void {
    this.placement = this.freshPlacement();
  }

  /** Problems of this pass's placement (a worker resource below zero). */
  placementProblems(): readonly string[] {
    return this.placement?.problems ?? [];
  }

  /** What each healthy worker has left of its worker-level resources now, by name. */
  available(): ReadonlyMap<string, Readonly<Record<string, number>>> {
    return this.freshPlacement().available;
  }

  /** The healthy workers and their room now, given the running tasks. */
  private freshPlacement(): WorkerPlacement {
    const { deps } = this;
    return new WorkerPlacement(
      deps.config().settings,
      deps.workers(),
      deps.statuses.runningTasks(),
      this.cursor,
    );
  }

  start(start: TaskStart, now: number): RunningTask | StartRefusal {
    const { deps } = this;
    this.placement ??= this.freshPlacement();
    const placed = this.placement.place(start.job, start.pathToNode);
    if (!placed.worker) return { refused: placed.outcome, reason: placed.reason };
    this.cursor = this.placement.cursor;
    const { worker } = placed;
    const local = runningTaskFor(start, now);
    const charges =
      Object.keys(placed.charges).length > 0
        ? { ...start.charges, [worker.name]: placed.charges }
        : start.charges;
    // Only the worker that claims the row can read the token its completion notice must name.
    const completionToken = randomUUID();
    const task: RunningTask = { ...local, charges, workerShard: worker.name, completionToken };
    const previous = deps.statuses.get(task.job, task.node);
    const spec = remoteTaskSpec(start, previous, charges, deps.config().settings, completionToken);
    deps.statuses.recordStart(task);
    this.pending.set(task.invocationId, {});
    deps.dispatch(task, worker.incarnation, spec).then(
      () => {
        const pending = this.pending.get(task.invocationId);
        this.pending.delete(task.invocationId);
        deps.logger.info(
          { job: task.job, node: task.node, invocationId: task.invocationId, worker: worker.name },
          'task dispatched',
        );
        if (pending?.completed) this.finish(task, pending.completed, Date.now() / 1000);
        else if (pending?.kill) deps.requestKill(task, pending.kill.request, pending.kill.reason);
      },
      (error: unknown) => {
        this.pending.delete(task.invocationId);
        deps.statuses.cancelStart(task, previous);
        deps.logger.warn(
          {
            job: task.job,
            node: task.node,
            invocationId: task.invocationId,
            worker: worker.name,
            err: error,
          },
          'task not dispatched: its row could not be written',
        );
      },
    );
    return task;
  }

  kill(invocationId: string, request: KillRequest, reason: string): KillOutcome {
    const pending = this.pending.get(invocationId);
    if (pending) {
      pending.kill ??= { request, reason };
      return { ok: true, message: `Kill of ${invocationId} will be sent once its dispatch is recorded` };
    }
    const task = this.deps.statuses.runningInvocation(invocationId);
    if (!task) return { ok: false, reason: 'unknown_task', message: `Task ${invocationId} is not running` };
    return this.deps.requestKill(task, request, reason);
  }

  killTask(job: string, node: string, reason: string): TaskKillOutcome {
    return killTaskByName(this, this.deps.statuses, this.deps.config(), job, node, reason);
  }

  forgive(job: string): void {
    forgiveJob(this.deps.statuses, this.deps.config(), job);
  }

  /** Remote tasks outlive a scheduler's stop: they belong to their workers. */
  async stopAll(): Promise<void> {
    await this.completions.stop();
  }

  killReachable(): void {
    // Nothing runs here.
  }

  abandonAll(): AbandonedTask[] {
    return [];
  }

  usage(): TaskUsage {
    return {};
  }

  unkillable(): ReadonlySet<string> {
    return new Set();
  }

  private async poll(): Promise<void> {
    const { deps } = this;
    if (!deps.leads()) return;
    const watched = [...deps.statuses.runningTasks()].filter((task) => !this.pending.has(task.invocationId));
    if (watched.length === 0) return;
    // A row deleted with no status stored is a loss this leader applies itself (WorkerLossMonitor).
    const completed = await deps.completed(watched);
    if (completed.length === 0) return;
    const byId = new Map(watched.map((task) => [task.invocationId, task]));
    const now = Date.now() / 1000;
    for (const { invocationId, status } of completed) this.finish(byId.get(invocationId)!, status, now);
  }

  /** Takes the status a worker stored for `task` (once: a second report of it is ignored). */
  private finish(task: RunningTask, status: TaskStatus, now: number): void {
    const { deps } = this;
    if (!deps.statuses.finishedElsewhere(task.job, task.node, task.invocationId, status)) return;
    const finished: FinishedTask = {
      invocationId: task.invocationId,
      job: task.job,
      status: statusLabel(status.bits),
      durationSec: Math.max(0, now - task.startTime),
    };
    deps.logger.info(
      {
        job: task.job,
        node: task.node,
        invocationId: task.invocationId,
        worker: task.workerShard,
        status: finished.status,
      },
      'task finished',
    );
    deps.onComplete?.(finished);
  }
}
