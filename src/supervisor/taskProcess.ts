/**
 * One supervised task from launch to result (docs/supervision.md); its parts
 * live in spawnTask.ts, taskPipes.ts, termination.ts and taskCompletion.ts.
 * When the main process exits, what is left in its group and containment is
 * SIGKILLed: nothing a task spawns in reach outlives it.
 */
import type { KillRequest } from '../config/killRequest.js';
import { DEFAULT_CGROUP_OPTIONS } from '../config/taskSubprocess.js';
import { waitWithBackoff } from './containment/cgroupFs.js';
import type { ContainmentFactory } from './containment/containmentFactory.js';
import { parseLauncherFailure } from './launcherArguments.js';
import type { LogRateLimiter } from './logRateLimiter.js';
import { native } from './native.js';
import { isSameLiveProcess, processStartTicks } from './procStat.js';
import { spawnTask, type LaunchStepError, type SpawnedTask, type SpawnHooks } from './spawnTask.js';
import { TaskCompletion } from './taskCompletion.js';
import type { TaskEvent, TaskEventName } from './taskEvents.js';
import { MAX_DRAINED_LINES, TaskPipes } from './taskPipes.js';
import type {
  KillOutcome,
  LauncherStart,
  LaunchFailure,
  LogLine,
  TaskContainment,
  TaskResult,
  TaskSpec,
  TaskUsage,
} from './taskSpec.js';
import { Termination } from './termination.js';

export interface TaskProcessHooks extends SpawnHooks {
  readonly limiter: LogRateLimiter;
  /** Creates the task's cgroups; undefined = never contain. */
  readonly containment: ContainmentFactory | undefined;
  readonly onEvent: (event: TaskEvent) => void;
  readonly onLog: (invocationId: string, line: LogLine) => void;
  /** Called once if processes survive SIGKILL past the unkillable timeout. */
  readonly onUnkillable?: (invocationId: string) => void;
  /** Called once a spawn succeeded. */
  readonly afterSpawn?: (invocationId: string, started: LauncherStart) => void;
}

export class TaskProcess {
  readonly invocationId: string;
  readonly startTime = Date.now();
  readonly done: Promise<TaskResult>;
  pid: number | undefined;
  /** Set while the task leads its own process group. */
  readonly leadsGroup: boolean;

  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private launcherOutput = '';
  private launchFailure: LaunchFailure | undefined;
  /** The cgroup the launcher was cloned straight into, if it was. */
  private startCgroup: string | undefined;
  /** Set once the spawn was tried; a kill before it cancels the launch instead. */
  private spawnAttempted = false;
  /** The clone is under way on the launch thread: no pid yet. */
  private spawning = false;
  /** A kill that came while the clone was under way, applied once the pid is known. */
  private pendingKill: { request: KillRequest; reason: string } | undefined;
  private containment: TaskContainment | undefined;
  /** With a PID namespace: its init, as seen from outside. */
  private namespaceInit: { pid: number; startTicks: number | undefined } | undefined;
  private complete = false;
  private readonly pipes: TaskPipes;
  private readonly completion: TaskCompletion;
  private readonly termination: Termination;
  /** Why the task was given up on (shutdown could not confirm it dead), and who still held it. */
  private abandoned: { readonly reason: string; readonly pids: readonly number[] } | undefined;
  private resolveDone!: (result: TaskResult) => void;

  constructor(
    readonly spec: TaskSpec,
    private readonly hooks: TaskProcessHooks,
  ) {
    this.invocationId = spec.invocationId;
    this.leadsGroup = spec.options.processGroupLeader;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.pipes = new TaskPipes({
      onLog: (line) => hooks.onLog(this.invocationId, line),
      onLauncherOutput: (text) => this.onLauncherOutput(text),
      // The launcher reports a namespace's init before its pipe closes; none means no namespace.
      onLauncherClosed: () => {
        if (!this.namespaceInit) this.completion.namespaceGone.set();
      },
      onTaskPipesClosed: () => this.emit('task_pipes_closed', {}),
      onError: (pipe, message) => this.emit('task_pipe_error', { pipe, message }),
    });
    const drain = () => this.pipes.drain();
    this.completion = new TaskCompletion(this.pipes.allClosed, drain, () => this.finish());
    this.termination = new Termination({
      pid: () => this.pid,
      leadsGroup: this.leadsGroup,
      exited: () => this.completion.exited.isSet,
      containment: () => this.containment,
      unkillableTimeoutSec:
        spec.unkillableTimeoutSec ?? (spec.options.cgroups ?? DEFAULT_CGROUP_OPTIONS).unkillableTimeoutSec,
      emit: (event, fields) => this.emit(event, fields),
      onUnkillable: () => hooks.onUnkillable?.(this.invocationId),
    });
    this.launch();
  }

  get isComplete(): boolean {
    return this.complete;
  }
  /** CPU and memory from the task's cgroups; empty without containment. */
  usage(): TaskUsage {
    return this.containment?.usage() ?? {};
  }

  /** The task's cgroup directories (for restart records). */
  get cgroupPaths(): readonly string[] {
    return this.containment?.paths ?? [];
  }

  /** Applies a kill request (docs/supervision.md, "Kill requests"). */
  kill(request: KillRequest, reason: string): KillOutcome {
    if (this.complete) {
      return { ok: false, reason: 'not_running', message: `task ${this.invocationId} already completed` };
    }
    this.emit('kill_requested', { method: request.method, kill_wait_ms: request.killWaitMs, reason });
    if (!this.spawnAttempted && !this.completion.exited.isSet) {
      this.termination.killed = true; // the pending launch sees it and never spawns
      return { ok: true, message: 'cancelled before it started' };
    }
    if (this.spawning) {
      // The launcher is being cloned: the kill goes to it as soon as its pid is known.
      this.termination.killed = true;
      this.pendingKill = { request, reason };
      return { ok: true, message: 'the task is starting: the kill is applied as soon as it runs' };
    }
    return this.termination.apply(request, reason);
  }

  /** True if the main process died of a signal no kill request sent. */
  get killedFromOutside(): boolean {
    return this.exitSignal !== null && !this.termination.killed && this.launchFailure === undefined;
  }

  /**
   * The last step of a shutdown: SIGKILLs everything of the task in reach --
   * its process group, its cgroups, and `escaped`, the processes a scan found
   * carrying its marker or holding one of its pipes (see `addToScan`).
   */
  killReachable(reason: string, escaped: readonly number[]): void {
    if (this.complete) return;
    if (this.spawning) this.pendingKill = { request: { method: 'kill', killWaitMs: 0 }, reason };
    this.termination.sendKill(reason);
    this.termination.killEscaped(escaped, reason);
  }

  /**
   * Adds the task's marker and the inodes of its open pipes to a /proc scan
   * (supervisor/processScan.ts); processes started before the task are
   * excluded while its main process can still tell when that was.
   */
  addToScan(query: { invocations: Map<string, number>; pipeInodes: Map<number, string> }): void {
    if (this.complete || this.pid === undefined) return;
    this.pipes.addInodes(query.pipeInodes, this.invocationId);
    const taskStart = !this.completion.exited.isSet ? (processStartTicks(this.pid) ?? 0) : 0;
    query.invocations.set(this.invocationId, taskStart);
  }

  /**
   * Gives up waiting: completes the task now, with a status that says it
   * could not be confirmed dead (and which pids still held its pipes), and
   * closes our ends of its pipes. The runner keeps its launch record, so the
   * next start's recovery looks for it again.
   */
  abandon(reason: string, holders: readonly number[]): void {
    if (this.complete || this.abandoned !== undefined) return;
    const pending = this.completion.pending(this.pipes.openNames);
    const message = `${reason}: could not confirm the task dead (${pending.join('; ')})${holders.length > 0 ? `; processes still holding its pipes or marker: ${holders.join(', ')}` : ''}`;
    this.abandoned = { reason: message, pids: holders };
    this.emit('abandoned', { message, pids: holders });
    this.pipes.destroy();
    this.completion.giveUp();
  }

  /** Plans the containment, creates it off the event loop, then spawns. */
  private launch(): void {
    const { spec } = this;
    let containment: TaskContainment | undefined;
    try {
      containment = this.hooks.containment?.create(
        spec.invocationId,
        spec.options,
        spec.limits,
        spec.containment,
      );
    } catch (error) {
      this.failLaunch('cgroup', error as NodeJS.ErrnoException);
      return;
    }
    if (!containment) {
      this.spawnLauncher();
      return;
    }
    this.containment = containment;
    containment.create().then(
      () => {
        if (this.termination.killed) {
          // Killed while its cgroups were being made: it never starts, and ends as killed.
          this.pipes.destroy();
          this.completion.giveUp();
          return;
        }
        this.spawnLauncher();
      },
      (error: NodeJS.ErrnoException) => {
        this.failLaunch('cgroup', error);
        void this.releaseContainment();
      },
    );
  }

  private spawnLauncher(): void {
    const { spec } = this;
    const options = spec.options;
    this.spawnAttempted = true;
    if (this.containment === undefined) this.completion.containmentEmpty.set();
    if (!options.pidNamespace) this.completion.namespaceGone.set();
    try {
      this.spawning = true;
      spawnTask(spec, this.containment, this.hooks, {
        onStarted: (spawned) => this.onStarted(spawned),
        onExit: (code, signal, ran) => this.onExit(code, signal, ran),
      });
    } catch (error) {
      this.onStarted(error as LaunchStepError);
    }
  }

  /** The launcher exists, or could not be started; a kill that came meanwhile is applied now. */
  private onStarted(spawned: SpawnedTask | LaunchStepError): void {
    const { spec } = this;
    const options = spec.options;
    this.spawning = false;
    if (this.complete) {
      // Given up on while its launcher was being cloned: nothing of it may run on.
      if (!(spawned instanceof Error)) this.killLateLauncher(spawned);
      return;
    }
    if (spawned instanceof Error) {
      this.failLaunch(spawned.step ?? 'spawn', spawned);
      void this.releaseContainment();
      return;
    }
    this.pid = spawned.pid;
    this.startCgroup = spawned.startCgroup;
    this.hooks.afterSpawn?.(spec.invocationId, spawned);
    const quota = this.hooks.limiter.quota(options.maxLogLinesPerPollInterval, options.pollMs, {
      pause: () => this.pipes.pause(),
      resume: () => this.pipes.resume(),
    });
    this.pipes.read(spawned.readFds, options.pollMs, quota);
    this.emit('running', {
      command: [...spec.argv],
      pid: spawned.pid,
      ...(spawned.startCgroup !== undefined ? { cloned_into_cgroup: spawned.startCgroup } : {}),
    });
    const pending = this.pendingKill;
    this.pendingKill = undefined;
    if (pending && !this.complete) this.termination.apply(pending.request, pending.reason);
  }

  /** SIGKILLs a launcher whose task was completed before its clone was reported, and closes its pipes. */
  private killLateLauncher(spawned: SpawnedTask): void {
    this.pid = spawned.pid;
    // Our own unreaped child (it is reaped only after this turn): neither its pid nor a group
    // of that id can be anyone else's. The group exists once the launcher made it.
    for (const target of [-spawned.pid, spawned.pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    this.emit('signal_sent', {
      signal: 'SIGKILL',
      target: 'process',
      pid: spawned.pid,
      reason: 'its task was given up on while it was being started',
    });
    for (const fd of Object.values(spawned.readFds)) if (fd !== undefined) native().closeFd(fd);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, ran: boolean): void {
    this.exitCode = code;
    this.exitSignal = signal;
    // A launcher cloned into its cgroup and dead before its first instruction, with no kill
    // from us (one right after the spawn can also land before it runs), was killed in the clone.
    if (!ran && this.startCgroup !== undefined && !this.termination.killed)
      this.launcherKilledInClone(signal);
    this.completion.exited.set();
    this.emit('process_exited', {
      message: signal ? `killed by signal ${signal}` : `exited with status ${code}`,
      exit_code: code,
      signal,
    });
    this.termination.killGroupRemains();
    if (this.containment) this.emptyContainment(this.containment);
    if (this.namespaceInit) this.waitForNamespace(this.namespaceInit);
  }

  /** After the main process exited: kill what is left in its cgroups and wait until they are empty. */
  private emptyContainment(containment: TaskContainment): void {
    this.termination.watchUnkillable();
    containment
      .killRemaining()
      .then(() => {
        this.emit('cgroup_killed', { strategy: containment.strategy, reason: 'main process exited' });
        return containment.waitEmpty();
      })
      .then(
        () => {
          this.emit('cgroups_reaped', { paths: containment.paths });
          this.completion.containmentEmpty.set();
        },
        (error: Error) => this.emit('task_pipe_error', { pipe: 'containment', message: error.message }),
      );
  }

  private onLauncherOutput(text: string): void {
    this.launcherOutput += text;
    const match = /^init (\d+)$/m.exec(this.launcherOutput);
    if (match && !this.namespaceInit) {
      const pid = Number(match[1]);
      this.namespaceInit = { pid, startTicks: processStartTicks(pid) };
      if (this.completion.exited.isSet) this.waitForNamespace(this.namespaceInit);
    }
  }

  /** The namespace is empty once its init is gone: the kernel kills the rest before init finishes exiting. */
  private waitForNamespace(init: { pid: number; startTicks: number | undefined }): void {
    waitWithBackoff(() => !isSameLiveProcess(init.pid, init.startTicks), 1).then(
      () => this.completion.namespaceGone.set(),
      (error: Error) => this.emit('task_pipe_error', { pipe: 'pid namespace', message: error.message }),
    );
  }

  /**
   * The kernel killed the launcher inside the clone, before it ran an
   * instruction: the task never started. Cloned into its cgroup, that means
   * the cgroup's `cgroup.kill` was written behind our back (startInCgroup.ts):
   * no launcher of this slice is cloned into a cgroup again.
   */
  private launcherKilledInClone(signal: NodeJS.Signals | null): void {
    this.containment?.startInCgroupFailed?.();
    this.launchFailure = {
      step: 'clone-into-cgroup',
      errno: 0,
      message: `the kernel killed the launcher (${signal ?? 'no signal'}) before it ran, as it was cloned into ${this.startCgroup}: launchers of this slice now join their cgroups instead`,
    };
  }

  private failLaunch(step: string, error: NodeJS.ErrnoException): void {
    this.launchFailure = { step, errno: Math.abs(Number(error.errno ?? 0)), message: error.message };
    this.pipes.destroy();
    this.completion.giveUp();
  }

  private finish(): void {
    if (this.complete) return;
    this.complete = true;
    this.termination.stop();
    this.pipes.dispose();
    if (!this.launchFailure) this.launchFailure = parseLauncherFailure(this.launcherOutput);
    const dropped = this.pipes.droppedLines;
    if (dropped > 0) {
      this.emit('output_dropped', {
        lines: dropped,
        message: `dropped ${dropped} lines of output written after the task's processes were gone (bound ${MAX_DRAINED_LINES})`,
      });
    }
    const oomKills = oomKillsOf(this.containment);
    if (oomKills) {
      this.emit('oom_killed', {
        oom_kills: oomKills.count,
        memory_limit_bytes: oomKills.memoryLimitBytes ?? null,
      });
    }
    const result: Omit<TaskResult, 'endTime'> = {
      invocationId: this.invocationId,
      pid: this.pid,
      exitCode: this.exitCode,
      exitSignal: this.exitSignal,
      statusLine: this.pipes.statusLine,
      killed: this.termination.killed,
      killedFromOutside: this.killedFromOutside,
      abandonedPids: this.abandoned?.pids,
      abandonedReason: this.abandoned?.reason,
      oomKills,
      launchFailure: this.launchFailure,
      startTime: this.startTime,
    };
    const resolve = () => this.resolveDone({ ...result, endTime: Date.now() });
    // A cgroup whose launch failed or whose task was abandoned is never handed to another task.
    const reusable = this.launchFailure === undefined && this.abandoned === undefined;
    this.releaseContainment(reusable, this.killedFromOutside).then(resolve, resolve);
  }

  private async releaseContainment(reusable = false, killedFromOutside = false): Promise<void> {
    const containment = this.containment;
    if (!containment) return;
    try {
      await containment.release({ reusable, killedFromOutside });
    } catch (error) {
      this.emit('task_pipe_error', {
        pipe: 'containment',
        message: `cannot remove ${containment.paths.join(', ')}: ${(error as Error).message}`,
      });
    }
  }

  private emit(event: TaskEventName, fields: Record<string, unknown>): void {
    this.hooks.onEvent({ event, invocationId: this.invocationId, time: Date.now(), ...fields });
  }
}

function oomKillsOf(containment: TaskContainment | undefined): TaskResult['oomKills'] {
  const summary = containment?.summary();
  if (!summary || summary.oomKills === 0) return undefined;
  return { count: summary.oomKills, memoryLimitBytes: summary.memoryLimitBytes };
}
