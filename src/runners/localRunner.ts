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
import type { TaskStatus } from '../statuses/taskStatus.js';
import { StatusBits as B, statusLabel } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { TaskStateStore } from '../store/statusStore.js';
import type { TaskLogs } from '../store/taskLogStore.js';
import { finalStatus } from '../statuses/backoff.js';
import type { LaunchPlan } from '../supervisor/launchPlan.js';
import type { LaunchPlans } from './launchPlans.js';
import { processStartTicks } from '../supervisor/procStat.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { TaskEvent } from '../supervisor/taskEvents.js';
import type {
  KillOutcome,
  LauncherStart,
  LogLine,
  TaskHandle,
  TaskResult,
  TaskUsage,
} from '../supervisor/taskSpec.js';
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
  readonly statusStore: TaskStateStore;
  readonly logStore: TaskLogs;
  readonly logger: Logger;
  readonly arguments: TaskArgumentContext;
  /** The config in force, read at each start. */
  readonly config: () => Config;
  /** Launch plans, compiled once per job version. */
  readonly plans: LaunchPlans;
  /** Called when a task completes (the daemon schedules an early pass). */
  readonly onComplete?: (finished: FinishedTask) => void;
  /** With a shared store: makes the start durable where every scheduler sees it; the spawn waits for it. */
  readonly dispatch?: (task: RunningTask) => Promise<void>;
  /** With a shared store: asks the worker that runs a task this process does not to kill it. */
  readonly killElsewhere?: (task: RunningTask, request: KillRequest, reason: string) => KillOutcome;
  /** A task's process group appears (true) or ends (false): the worker watchdog tracks them. */
  readonly onProcessGroup?: (pgid: number, alive: boolean) => void;
  /** Extra fields for a task's "task started" line (a worker adds its dispatch latency). */
  readonly startedFields?: (task: RunningTask, started: LauncherStart) => Record<string, unknown>;
}

/**
 * How to launch one task, resolved by whoever chose it: the scheduler's own
 * pass (argv and plan from its config) or a leader's dispatch to this
 * worker (from the row's spec). Either may throw: the task then fails to
 * start with that reason.
 */
export interface LaunchInput {
  argv(): string[];
  plan(): LaunchPlan;
}

/** SIGKILL at once: lease loss and vanished rows never wait for a TERM. */
const KILL_NOW: KillRequest = { method: 'kill', killWaitMs: 0 };

export class LocalRunner implements Runner {
  readonly canKill = true;
  private readonly tasks = new Map<string, { task: RunningTask; handle: TaskHandle }>();
  /** Process groups of running tasks, reported to the watchdog. */
  private readonly processGroups = new Map<string, number>();
  /** Launches being set up: known to the spawn hooks before the handle exists. */
  private readonly launching = new Map<string, RunningTask>();
  private readonly unkillableIds = new Set<string>();
  /** Each running task's launch plan (its process-group policy matters after the spawn). */
  private readonly plans = new Map<string, LaunchPlan>();
  private readonly eventRows = new EventRows();
  /** Why each task was first asked to stop (api, orphan, shutdown, ...), for its finish line. */
  private readonly killReasons = new Map<string, string>();
  /** Starts waiting for their shared record to commit; a kill meanwhile cancels the launch. */
  private readonly dispatching = new Map<string, { task: RunningTask; cancelled?: string }>();
  /** When each launched task's shared record was known committed (performance.now()). */
  private readonly launchedAt = new Map<string, number>();

  constructor(
    private readonly supervisor: Supervisor,
    private readonly deps: LocalRunnerDeps,
  ) {}

  /** Supervisor hooks: wire these into the supervisor this runner uses. */
  static hooks(runner: () => LocalRunner) {
    return {
      beforeSpawn: (id: string, cgroupPaths: readonly string[]) => runner().beforeSpawn(id, cgroupPaths),
      afterSpawn: (id: string, started: LauncherStart) => runner().afterSpawn(id, started),
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
    const input: LaunchInput = {
      argv: () => taskArgv(start, previous, deps.arguments),
      plan: () => deps.plans.for(job, deps.config().settings),
    };
    if (deps.dispatch) {
      this.dispatching.set(task.invocationId, { task });
      deps.dispatch(task).then(
        () => this.launchDispatched(task, input),
        (error: unknown) => {
          this.dispatching.delete(task.invocationId);
          deps.statuses.cancelStart(task, previous);
          deps.logger.warn(
            { job: task.job, node: task.node, invocationId: task.invocationId, err: error },
            'task not started: its start could not be recorded',
          );
        },
      );
      return task;
    }
    this.launch(task, input);
    return task;
  }

  /** Runs a task a leader dispatched to this worker: its invocation, argv and plan come from the row. */
  run(task: RunningTask, input: LaunchInput): void {
    this.deps.statuses.recordStart(task);
    this.launch(task, input);
  }

  private launchDispatched(task: RunningTask, input: LaunchInput): void {
    const pending = this.dispatching.get(task.invocationId);
    this.dispatching.delete(task.invocationId);
    if (pending?.cancelled !== undefined) {
      this.finishWithoutProcess(
        task,
        `Task was killed (${pending.cancelled}) before it started`,
        B.INCOMPLETE,
      );
      return;
    }
    this.launch(task, input);
  }

  private launch(task: RunningTask, input: LaunchInput): void {
    const { deps } = this;
    const cwd = join(deps.dataDir, 'jobs', task.job);
    let argv: string[];
    this.launchedAt.set(task.invocationId, performance.now());
    try {
      argv = input.argv();
      mkdirSync(cwd, { recursive: true });
    } catch (error) {
      this.finishWithoutProcess(
        task,
        `Failed to start task ${task.invocationId}: ${(error as Error).message}`,
      );
      return;
    }
    let plan: LaunchPlan;
    try {
      plan = input.plan();
    } catch (error) {
      this.finishWithoutProcess(
        task,
        `Failed to start task ${task.invocationId}: ${(error as Error).message}`,
      );
      return;
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
      this.launchedAt.delete(task.invocationId);
      const pgid = this.processGroups.get(task.invocationId);
      this.processGroups.delete(task.invocationId);
      if (pgid !== undefined) deps.onProcessGroup?.(pgid, false);
      const report = taskStatusReport(result);
      const now = Date.now() / 1000;
      const outcome = deps.statuses.recordFinish(task.job, task.node, task.invocationId, report, now);
      if (!outcome.applied)
        deps.logger.warn({ job: task.job, node: task.node, reason: outcome.reason }, 'status ignored');
      // Its store gets the status either way: the completion is keyed by invocation, not by memory.
      const status = outcome.applied ? outcome.status : finalStatus(report, task.backoff, now);
      this.recordFinalEvent(task, result, report, status);
      if (result.killedFromOutside) {
        deps.logger.warn(
          { job: task.job, node: task.node, invocationId: task.invocationId, signal: result.exitSignal },
          'task was killed by an outside signal',
        );
      }
      // A task given up on keeps its record: the next start's recovery looks for it again.
      deps.statusStore.completeTask(task, status, result.abandonedPids !== undefined);
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
  }

  kill(invocationId: string, request: KillRequest, reason: string): KillOutcome {
    const pending = this.dispatching.get(invocationId);
    if (pending) {
      pending.cancelled ??= reason;
      return { ok: true, message: `Task ${invocationId} will not start: killed while starting` };
    }
    if (this.deps.killElsewhere && !this.tasks.has(invocationId) && !this.launching.has(invocationId)) {
      const task = this.deps.statuses.runningInvocation(invocationId);
      if (task) return this.deps.killElsewhere(task, request, reason);
    }
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

  /** Lease lost: SIGKILL every task of this process at once. */
  killAllNow(reason: string): void {
    for (const pending of this.dispatching.values()) pending.cancelled ??= reason;
    for (const { task } of this.tasks.values()) this.kill(task.invocationId, KILL_NOW, reason);
  }

  /**
   * The shared store's rows of this worker, read at `readAt` (performance.now()):
   * a task launched before that read whose row is gone is killed at once (it
   * was declared lost and may run elsewhere); a recorded kill request is applied.
   */
  reconcile(
    rows: ReadonlyMap<string, { readonly killRequest: KillRequest | undefined }>,
    readAt: number,
  ): void {
    for (const { task } of this.tasks.values()) {
      const row = rows.get(task.invocationId);
      const launched = this.launchedAt.get(task.invocationId) ?? Infinity;
      if (!row) {
        if (launched < readAt) this.kill(task.invocationId, KILL_NOW, 'row vanished');
      } else if (row.killRequest) {
        this.applyKillRequest(task.invocationId, row.killRequest);
      }
    }
  }

  /** A kill request the leader recorded on a task's row: sent once. */
  applyKillRequest(invocationId: string, request: KillRequest): void {
    if (!this.killReasons.has(invocationId)) this.kill(invocationId, request, 'leader');
  }

  /** Whether this runner has the task (launching or running). */
  has(invocationId: string): boolean {
    return this.tasks.has(invocationId) || this.launching.has(invocationId);
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

  private afterSpawn(invocationId: string, started: LauncherStart): void {
    const { pid, startTicks } = started;
    const task = this.taskOf(invocationId);
    if (!task) return;
    this.deps.logger.info(
      {
        job: task.job,
        node: task.node,
        invocationId,
        pid,
        worker: this.deps.arguments.hostname,
        ...this.deps.startedFields?.(task, started),
      },
      'task started',
    );
    const pgid = this.plans.get(invocationId)?.processGroupLeader === false ? undefined : pid;
    if (pgid !== undefined && this.deps.onProcessGroup) {
      this.processGroups.set(invocationId, pgid);
      this.deps.onProcessGroup(pgid, true);
    }
    const pidStartTime = startTicks ?? processStartTicks(pid);
    if (pidStartTime === undefined) return;
    this.deps.statusStore.recordProcess(invocationId, { pid, pidStartTime, pgid });
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
  private recordFinalEvent(
    task: RunningTask,
    result: TaskResult,
    report: StatusReport,
    final: TaskStatus,
  ): void {
    // `status` is what the task reported (or what its end says); `final_status`, what it became after backoff.
    const finalStatus = statusLabel(final.bits);
    const fields = result.launchFailure
      ? { event: 'task_failed_to_start', status: report, final_status: finalStatus }
      : {
          event: 'got_status',
          status: report,
          final_status: finalStatus,
          raw_status: result.statusLine ?? null,
        };
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

  /** A start that failed before any process existed: error_backoff (or `bits`) with the reason. */
  private finishWithoutProcess(task: RunningTask, exception: string, bits: number = B.ERROR): void {
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
    const report = { bits: bits | B.USES_BACKOFF, data: { exception } };
    const now = Date.now() / 1000;
    const outcome = deps.statuses.recordFinish(task.job, task.node, task.invocationId, report, now);
    deps.statusStore.completeTask(
      task,
      outcome.applied ? outcome.status : finalStatus(report, task.backoff, now),
      false,
    );
    deps.logger.warn({ job: task.job, node: task.node }, exception);
  }
}
