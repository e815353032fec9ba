/**
 * The task supervisor, usable as a library on its own (see README,
 * "Supervisor"). It starts tasks through the task launcher, reads their
 * output under a shared log rate limiter, applies kill requests addressed
 * by invocation id, and reports each task's completion and status.
 *
 * Nothing here polls per task: pipes and exits are events, kill timers are
 * exact, and the only shared timer (log quota refills) runs only while some
 * task is throttled.
 */
import { getPriority } from 'node:os';
import type { KillRequest } from '../config/killRequest.js';
import { ContainmentFactory } from './containment/containmentFactory.js';
import { LogRateLimiter } from './logRateLimiter.js';
import { findTaskProcesses } from './processScan.js';
import { environmentList } from './spawnTask.js';
import { TaskProcess } from './taskProcess.js';
import type { TaskEvent } from './taskEvents.js';
import type { KillOutcome, LauncherStart, LogLine, TaskHandle, TaskResult, TaskSpec } from './taskSpec.js';

export type { TaskHandle } from './taskSpec.js';

export interface SupervisorOptions {
  /** Every task event, in order, for the event log. */
  readonly onEvent?: (event: TaskEvent) => void;
  /** Every stdout/stderr line, in order per stream. */
  readonly onLog?: (invocationId: string, line: LogLine) => void;
  /** A task whose processes survived SIGKILL past the unkillable timeout. */
  readonly onUnkillable?: (invocationId: string) => void;
  /** Called right before each spawn (write durable records here); throwing fails the launch. */
  readonly beforeSpawn?: (invocationId: string, cgroupPaths: readonly string[]) => void;
  /**
   * Called once each spawn succeeded, with the process's pid, its start time
   * (clock ticks since boot, as /proc/<pid>/stat field 22) when the spawn
   * knew it without reading /proc, and when it was cloned (epoch ms).
   */
  readonly afterSpawn?: (invocationId: string, started: LauncherStart) => void;
  /** Creates task cgroups; by default one that detects the hierarchies. `null` never contains. */
  readonly containment?: ContainmentFactory | null;
  /**
   * The nice value every task starts with; by default this process's when the
   * supervisor is created, so a supervisor that raises its own priority
   * afterwards (see daemon/cpuPriority.ts) does not pass the raise on.
   */
  readonly taskNice?: number;
  /**
   * The environment of tasks that bring none (TaskSpec.env), fixed for the
   * supervisor's life (converted once); by default process.env as it is at
   * each launch.
   */
  readonly env?: NodeJS.ProcessEnv;
}

export class Supervisor {
  private readonly tasks = new Map<string, TaskProcess>();
  readonly limiter = new LogRateLimiter();
  readonly containment: ContainmentFactory | undefined;
  readonly taskNice: number;
  private readonly environment: (() => readonly string[]) | undefined;

  constructor(private readonly options: SupervisorOptions = {}) {
    this.taskNice = options.taskNice ?? getPriority();
    if (options.env) {
      const list = environmentList(options.env);
      this.environment = () => list;
    }
    this.containment =
      options.containment === null ? undefined : (options.containment ?? new ContainmentFactory());
  }

  /** Starts a task. Launch failures do not throw: they complete the task with an error status. */
  start(spec: TaskSpec): TaskHandle {
    if (this.tasks.has(spec.invocationId))
      throw new Error(`invocation ${spec.invocationId} is already supervised`);
    const task = new TaskProcess(spec, {
      limiter: this.limiter,
      containment: this.containment,
      onEvent: (event) => this.options.onEvent?.(event),
      onLog: (id, line) => this.options.onLog?.(id, line),
      onUnkillable: (id) => this.options.onUnkillable?.(id),
      beforeSpawn: this.options.beforeSpawn,
      afterSpawn: this.options.afterSpawn,
      taskNice: this.taskNice,
      environment: this.environment,
    });
    this.tasks.set(spec.invocationId, task);
    void task.done.then(() => this.tasks.delete(spec.invocationId));
    return task;
  }

  /** Sends a kill request to the task started as `invocationId`; a finished or unknown invocation is a no-op. */
  kill(invocationId: string, request: KillRequest, reason = 'api'): KillOutcome {
    const task = this.tasks.get(invocationId);
    if (!task)
      return {
        ok: false,
        reason: 'unknown_task',
        message: `no running task with invocation ${invocationId}`,
      };
    return task.kill(request, reason);
  }

  /**
   * The last resort of a shutdown: SIGKILLs everything of each task in reach,
   * escaped descendants found by marker or by a pipe they hold included (one
   * /proc scan for all of them). Returns the escaped pids by invocation.
   */
  killReachable(invocationIds: readonly string[], reason: string): Map<string, number[]> {
    const escaped = this.scan(invocationIds);
    for (const id of invocationIds) this.tasks.get(id)?.killReachable(reason, escaped.get(id) ?? []);
    return escaped;
  }

  /**
   * Completes tasks that could not be confirmed dead (see TaskProcess.abandon);
   * returns the pids still found holding their pipes or marker, by invocation.
   */
  abandon(invocationIds: readonly string[], reason: string): Map<string, number[]> {
    const holders = this.scan(invocationIds);
    for (const id of invocationIds) this.tasks.get(id)?.abandon(reason, holders.get(id) ?? []);
    return holders;
  }

  private scan(invocationIds: readonly string[]): Map<string, number[]> {
    const query = { invocations: new Map<string, number>(), pipeInodes: new Map<number, string>() };
    for (const id of invocationIds) this.tasks.get(id)?.addToScan(query);
    return findTaskProcesses(query);
  }

  /** Tasks not yet complete. */
  running(): TaskHandle[] {
    return [...this.tasks.values()];
  }

  get runningCount(): number {
    return this.tasks.size;
  }

  /** Kills every task with `request` and waits for all of them to complete. */
  async stopAll(request: KillRequest, reason = 'shutdown'): Promise<TaskResult[]> {
    const tasks = [...this.tasks.values()];
    for (const task of tasks) task.kill(request, reason);
    return Promise.all(tasks.map((task) => task.done));
  }
}
