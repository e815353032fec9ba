/**
 * The local runner: runs the tasks the scheduler chose on this machine
 * through the supervisor, following the task protocol (docs/task-protocol.md).
 *
 * Order of a start, so that nothing can run twice: RUNNING is recorded in
 * memory, the durable running-task record is written right before the spawn
 * (with the task's cgroups), the process identity right after it; the record
 * is removed only once the final status has been written.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import type { KillRequest } from '../config/killRequest.js';
import type { Logger } from '../logging/logger.js';
import type { TaskStart } from '../scheduler/pass.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { StatusBits as B, statusLabel } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { StatusStore } from '../store/statusStore.js';
import type { TaskLogStore } from '../store/taskLogStore.js';
import type { LaunchPlan } from '../supervisor/launchPlan.js';
import type { LaunchPlans } from './launchPlans.js';
import { processStartTicks } from '../supervisor/procStat.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { TaskEvent } from '../supervisor/taskEvents.js';
import type { KillOutcome, LogLine, TaskHandle, TaskResult, TaskUsage } from '../supervisor/taskSpec.js';
import type { StatusReport } from '../statuses/parseStatus.js';
import { taskStatusReport } from './taskStatusReport.js';
import { EventRows } from './eventRows.js';
import { runningTaskFor } from './runningTaskFor.js';
import type { AbandonedTask, FinishedTask, Runner, TaskKillOutcome } from './runner.js';
import { forgiveJob, killTaskByName } from './taskControl.js';
import { taskArgv, type TaskArgumentContext } from './taskArguments.js';

export interface LocalRunnerDeps {
  readonly dataDir: string;
  readonly statuses: TaskStatuses;
  readonly statusStore: StatusStore;
  readonly logStore: TaskLogStore;
  readonly logger: Logger;
  readonly arguments: TaskArgumentContext;
  /** The config in force, read at each start. */
  readonly config: () => Config;
  /** Launch plans, compiled once per job version. */
  readonly plans: LaunchPlans;
  /** Called when a task completes (the daemon schedules an early pass). */
  readonly onComplete?: (finished: FinishedTask) => void;
}

export class LocalRunner implements Runner {
  readonly canKill = true;
  private readonly tasks = new Map<string, { task: RunningTask; handle: TaskHandle }>();
  /** Launches being set up: known to the spawn hooks before the handle exists. */
  private readonly launching = new Map<string, RunningTask>();
  private readonly unkillableIds = new Set<string>();
  /** Each running task's launch plan (its process-group policy matters after the spawn). */
  private readonly plans = new Map<string, LaunchPlan>();
  private readonly eventRows = new EventRows();
  /** Why each task was first asked to stop (api, orphan, shutdown, ...), for its finish line. */
  private readonly killReasons = new Map<string, string>();

  constructor(
    private readonly supervisor: Supervisor,
    private readonly deps: LocalRunnerDeps,
  ) {}

  /** Supervisor hooks: wire these into the supervisor this runner uses. */
  static hooks(runner: () => LocalRunner) {
    return {
      beforeSpawn: (id: string, cgroupPaths: readonly string[]) => runner().beforeSpawn(id, cgroupPaths),
      afterSpawn: (id: string, pid: number) => runner().afterSpawn(id, pid),
      onEvent: (event: TaskEvent) => runner().onEvent(event),
      onLog: (id: string, line: LogLine) => runner().onLog(id, line),
      onUnkillable: (id: string) => runner().onUnkillable(id),
    };
  }

  start(start: TaskStart, now: number): RunningTask {
    const { deps } = this;
    const job = start.job;
    const previous = deps.statuses.get(job.name, start.node);
    const task = runningTaskFor(start, now);
    deps.statuses.recordStart(task);
    let argv: string[];
    const cwd = join(deps.dataDir, 'jobs', job.name);
    try {
      argv = taskArgv(start, previous, deps.arguments);
      mkdirSync(cwd, { recursive: true });
    } catch (error) {
      this.finishWithoutProcess(
        task,
        `Failed to start task ${task.invocationId}: ${(error as Error).message}`,
      );
      return task;
    }
    let plan: LaunchPlan;
    try {
      plan = deps.plans.for(job, deps.config().settings);
    } catch (error) {
      this.finishWithoutProcess(
        task,
        `Failed to start task ${task.invocationId}: ${(error as Error).message}`,
      );
      return task;
    }
    this.launching.set(task.invocationId, task);
    this.plans.set(task.invocationId, plan);
    const handle = this.supervisor.start({
      invocationId: task.invocationId,
      argv,
      cwd,
      options: plan.options,
      limits: plan.limits,
      containment: plan.containment,
      unkillableTimeoutSec: plan.unkillableTimeoutSec,
    });
    this.launching.delete(task.invocationId);
    this.tasks.set(task.invocationId, { task, handle });
    void handle.done.then((result) => {
      this.tasks.delete(task.invocationId);
      this.plans.delete(task.invocationId);
      this.unkillableIds.delete(task.invocationId);
      const report = taskStatusReport(result);
      this.recordFinalEvent(task, result, report);
      const outcome = deps.statuses.recordFinish(
        task.job,
        task.node,
        task.invocationId,
        report,
        Date.now() / 1000,
      );
      if (!outcome.applied)
        deps.logger.warn({ job: task.job, node: task.node, reason: outcome.reason }, 'status ignored');
      if (result.killedFromOutside) {
        deps.logger.warn(
          { job: task.job, node: task.node, invocationId: task.invocationId, signal: result.exitSignal },
          'task was killed by an outside signal',
        );
      }
      // A task given up on keeps its record: the next start's recovery looks for it again.
      if (result.abandonedPids !== undefined) deps.statusStore.flush();
      else deps.statusStore.flushAndRemoveLaunch(task.invocationId);
      const finished: FinishedTask = {
        invocationId: task.invocationId,
        job: task.job,
        status: statusLabel(report.bits),
        durationSec: (result.endTime - result.startTime) / 1000,
      };
      const killedBy = this.killReasons.get(task.invocationId);
      this.killReasons.delete(task.invocationId);
      deps.logger.info(
        {
          job: task.job,
          node: task.node,
          invocationId: task.invocationId,
          worker: deps.arguments.hostname,
          status: finished.status,
          exit_code: result.exitCode,
          signal: result.exitSignal,
          duration_ms: result.endTime - result.startTime,
          ...(killedBy !== undefined ? { killed_by: killedBy } : {}),
        },
        'task finished',
      );
      deps.onComplete?.(finished);
    });
    return task;
  }

  kill(invocationId: string, request: KillRequest, reason: string): KillOutcome {
    const outcome = this.supervisor.kill(invocationId, request, reason);
    if (outcome.ok && !this.killReasons.has(invocationId)) this.killReasons.set(invocationId, reason);
    return outcome;
  }

  killTask(job: string, node: string, reason: string): TaskKillOutcome {
    return killTaskByName(this, this.deps.statuses, this.deps.config(), job, node, reason);
  }

  forgive(job: string): void {
    forgiveJob(this.deps.statuses, this.deps.config(), job);
    this.deps.statusStore.flush();
  }

  async stopAll(requestFor: (task: RunningTask) => KillRequest, reason: string): Promise<void> {
    const running = [...this.tasks.values()];
    for (const { task } of running) this.kill(task.invocationId, requestFor(task), reason);
    await Promise.all(running.map(({ handle }) => handle.done));
  }

  killReachable(reason: string): void {
    const running = [...this.tasks.values()].map(({ task }) => task);
    const escaped = this.supervisor.killReachable(
      running.map((task) => task.invocationId),
      reason,
    );
    for (const task of running) {
      const pids = escaped.get(task.invocationId) ?? [];
      if (pids.length === 0) continue;
      this.deps.logger.warn(
        { job: task.job, node: task.node, invocationId: task.invocationId, pids },
        'killed escaped descendants of a task',
      );
    }
  }

  abandonAll(reason: string): AbandonedTask[] {
    const running = [...this.tasks.values()].map(({ task }) => task);
    const holders = this.supervisor.abandon(
      running.map((task) => task.invocationId),
      reason,
    );
    return running.map((task) => {
      const pids = holders.get(task.invocationId) ?? [];
      this.deps.logger.error(
        { job: task.job, node: task.node, invocationId: task.invocationId, pids },
        'could not confirm a task dead; its launch record stays for the next start to recover',
      );
      return { invocationId: task.invocationId, job: task.job, node: task.node, pids };
    });
  }

  usage(invocationId: string): TaskUsage {
    return this.tasks.get(invocationId)?.handle.usage() ?? {};
  }

  unkillable(): ReadonlySet<string> {
    return this.unkillableIds;
  }

  get runningCount(): number {
    return this.tasks.size;
  }

  /** Times a task had its pipes paused for its log quota. */
  get logBackpressureEvents(): number {
    return this.supervisor.limiter.throttleEvents;
  }

  private taskOf(invocationId: string): RunningTask | undefined {
    return this.tasks.get(invocationId)?.task ?? this.launching.get(invocationId);
  }

  private beforeSpawn(invocationId: string, cgroupPaths: readonly string[]): void {
    // The launch may finish after start() returned (task cgroups are made asynchronously).
    const task = this.taskOf(invocationId);
    if (task) this.deps.statusStore.recordLaunch(task, cgroupPaths);
  }

  private afterSpawn(invocationId: string, pid: number): void {
    const task = this.taskOf(invocationId);
    if (!task) return;
    this.deps.logger.info(
      { job: task.job, node: task.node, invocationId, pid, worker: this.deps.arguments.hostname },
      'task started',
    );
    const pidStartTime = processStartTicks(pid);
    if (pidStartTime === undefined) return;
    this.deps.statusStore.recordProcess(invocationId, {
      pid,
      pidStartTime,
      pgid: this.plans.get(invocationId)?.processGroupLeader === false ? undefined : pid,
    });
  }

  private onEvent(event: TaskEvent): void {
    const task = this.taskOf(event.invocationId);
    if (!task) return;
    const { invocationId, time, ...fields } = event;
    const row = this.eventRows.row(task, fields, this.deps.arguments.hostname);
    this.deps.logStore.append('statuses', task.job, task.node, row, time);
    if (event.event === 'unkillable' || event.event === 'oom_killed' || event.event === 'output_dropped') {
      this.deps.logger.warn({ job: task.job, node: task.node, invocationId, event: fields }, event.event);
    }
  }

  /** The last event of a run: the status it got, or why it failed to start. */
  private recordFinalEvent(task: RunningTask, result: TaskResult, report: StatusReport): void {
    const fields = result.launchFailure
      ? { event: 'task_failed_to_start', status: report }
      : { event: 'got_status', status: report, raw_status: result.statusLine ?? null };
    const row = this.eventRows.row(task, fields, this.deps.arguments.hostname);
    this.deps.logStore.append('statuses', task.job, task.node, row);
    if (result.launchFailure)
      this.deps.logger.warn(
        { job: task.job, node: task.node, invocationId: task.invocationId, status: report },
        'task_failed_to_start',
      );
  }

  private onLog(invocationId: string, line: LogLine): void {
    const task = this.taskOf(invocationId);
    if (task) this.deps.logStore.append(line.stream, task.job, task.node, line.text, line.time);
  }

  private onUnkillable(invocationId: string): void {
    this.unkillableIds.add(invocationId);
  }

  /** A start that failed before any process existed: error_backoff with the reason. */
  private finishWithoutProcess(task: RunningTask, exception: string): void {
    const { deps } = this;
    deps.logStore.append(
      'statuses',
      task.job,
      task.node,
      this.eventRows.row(
        task,
        { event: 'task_failed_to_start', message: exception },
        this.deps.arguments.hostname,
      ),
    );
    deps.statuses.recordFinish(
      task.job,
      task.node,
      task.invocationId,
      { bits: B.ERROR | B.USES_BACKOFF, data: { exception } },
      Date.now() / 1000,
    );
    deps.logger.warn({ job: task.job, node: task.node }, exception);
  }
}
