/**
 * Runners that start no process: `--dry-run` marks every
 * started task running then done at once; `--benchmark-run` "runs" it for a
 * random 0..2x duration, then reports done or, with the given probability,
 * an error. Neither can kill, so orphan timers are forgotten.
 */
import type { KillRequest } from '../config/killRequest.js';
import type { TaskStart } from '../scheduler/pass.js';
import type { RandomSource } from '../scheduler/random.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { StatusBits as B, statusLabel } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { KillOutcome, TaskUsage } from '../supervisor/taskSpec.js';
import { runningTaskFor } from './runningTaskFor.js';
import type { AbandonedTask, FinishedTask, Runner, TaskKillOutcome } from './runner.js';
import { forgiveJob, killTaskByName } from './taskControl.js';
import type { Config } from '../config/config.js';

export interface SimulationOptions {
  /** 0 = dry run: done immediately. */
  readonly meanDurationMs: number;
  readonly failureRate: number;
  readonly random: RandomSource;
  readonly onComplete?: (finished: FinishedTask) => void;
  /** The config in force, for kill requests by name. */
  readonly config: () => Config;
}

export class SimulatedRunner implements Runner {
  readonly canKill = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly statuses: TaskStatuses,
    private readonly options: SimulationOptions,
  ) {}

  start(start: TaskStart, now: number): RunningTask {
    const task = runningTaskFor(start, now);
    this.statuses.recordStart(task);
    const finish = () => {
      const failed = this.options.random.next() < this.options.failureRate;
      const report = failed
        ? { bits: B.ERROR | B.USES_BACKOFF, data: { exception: 'testing' } }
        : { bits: B.DONE };
      this.statuses.recordFinish(task.job, task.node, task.invocationId, report, Date.now() / 1000);
      this.options.onComplete?.({
        invocationId: task.invocationId,
        job: task.job,
        status: statusLabel(report.bits),
        durationSec: Date.now() / 1000 - now,
      });
    };
    if (this.options.meanDurationMs <= 0) {
      this.statuses.recordFinish(task.job, task.node, task.invocationId, { bits: B.DONE }, now);
    } else {
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          finish();
        },
        this.options.random.next() * 2 * this.options.meanDurationMs,
      );
      this.timers.add(timer);
    }
    return task;
  }

  kill(invocationId: string, _request: KillRequest, _reason: string): KillOutcome {
    return { ok: false, reason: 'not_running', message: `simulated task ${invocationId} cannot be killed` };
  }

  killTask(job: string, node: string, reason: string): TaskKillOutcome {
    return killTaskByName(this, this.statuses, this.options.config(), job, node, reason);
  }

  forgive(job: string): void {
    forgiveJob(this.statuses, this.options.config(), job);
  }

  async stopAll(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  killReachable(): void {
    // Simulated tasks have no processes.
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
}
