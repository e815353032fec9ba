/** What the supervisor needs to start one task, and what it reports at the end. */
import type { TaskSubprocessOptions } from '../config/taskSubprocess.js';
import type { ContainmentChoice } from './containment/containmentFactory.js';
import type { CgroupLimits } from './containment/limits.js';

/** The task's status pipe is inherited at this descriptor; its argv names `/dev/fd/4`. */
export const STATUS_FD = 4;
export const CANARY_FD = 5;
export const STATUS_PIPE_PATH = `/dev/fd/${STATUS_FD}`;

/**
 * The cgroups a task runs in. The supervisor asks the launcher to join
 * `cgroupProcs` before exec and treats the task as complete only once the
 * containment is empty. (A PID namespace is a launcher option, `pid_namespace`.)
 */
export interface TaskContainment {
  /** Human name of the mechanism, for events: `cgroup_v1_freezer`, `cgroup_v2`, ... */
  readonly strategy: string;
  /** The task's cgroup directories. */
  readonly paths: readonly string[];
  readonly cgroupProcs: readonly string[];
  /**
   * A cgroup v2 directory the launcher may be cloned straight into instead of
   * joining it through its `cgroupProcs` entry (`<dir>/cgroup.procs`), asked
   * right before the spawn; undefined = join them all
   * (containment/startInCgroup.ts says when it is safe).
   */
  startCgroup?(): string | undefined;
  /** A launcher cloned into `startCgroup()` was killed inside the clone: clone into none again. */
  startInCgroupFailed?(): void;
  /**
   * Makes the cgroups and writes their limits. Asynchronous (the kernel's
   * cgroup creation is slow enough to matter at hundreds of launches a
   * second, so it runs off the event loop); call once, before the launch.
   */
  create(): Promise<void>;
  /** Resolves when no process is left inside. */
  waitEmpty(): Promise<void>;
  /** SIGKILLs every process inside (freezing first where possible), now. */
  killAll(): Promise<void>;
  /**
   * After the main process exited: SIGKILLs whatever is left inside, and
   * nothing when it is already empty (skipping the kernel's costlier kill path).
   */
  killRemaining(): Promise<void>;
  /** Sends `signal` to every process inside. */
  signalAll(signal: NodeJS.Signals): Promise<void>;
  /**
   * Removes what was created for the task; call once it is empty. With
   * `reusable: false` (the launch failed, or the task was abandoned) nothing
   * of it is kept for another task; with `killedFromOutside` (the task died
   * of a signal no kill request sent), someone may have written its
   * `cgroup.kill`, and a cgroup kept is never cloned into.
   */
  release(options?: ReleaseOptions): Promise<void>;
  /** What happened inside, read at completion (OOM kills). */
  summary(): ContainmentSummary;
  /** CPU time and memory of everything inside, as far as the hierarchy accounts for them. */
  usage(): TaskUsage;
}

/** A task's launcher as it was started. */
export interface LauncherStart {
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22), when the spawn knew it. */
  readonly startTicks: number | undefined;
  /** When it was cloned, epoch milliseconds (the event loop hears of it a little later). */
  readonly startedAtMs: number;
}

export interface ReleaseOptions {
  readonly reusable?: boolean;
  readonly killedFromOutside?: boolean;
}

export interface TaskUsage {
  readonly cpuSeconds?: number;
  readonly memoryBytes?: number;
  readonly memoryPeakBytes?: number;
}

export interface ContainmentSummary {
  /** Processes the kernel's OOM killer killed in this cgroup. */
  readonly oomKills: number;
  readonly memoryLimitBytes: number | undefined;
}

export interface TaskSpec {
  /** Unique per start; every kill must name it. */
  readonly invocationId: string;
  /** Executable and arguments. A bare name is looked up in PATH; a relative path is relative to `cwd`. */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly options: TaskSubprocessOptions;
  /** Limits for the task's cgroups (memory, CPU weight, pids). */
  readonly limits?: CgroupLimits;
  /** The containment chosen once for the task's job (a launch plan's); by default chosen at launch. */
  readonly containment?: ContainmentChoice;
  /** Seconds processes may survive SIGKILL before the task is reported unkillable; default 60. */
  readonly unkillableTimeoutSec?: number;
}

export interface LaunchFailure {
  /** The launcher step that failed: `cgroup`, `setpgid`, `pdeathsig`, `chdir`, `exec`, `spawn`, ... */
  readonly step: string;
  readonly errno: number;
  readonly message: string;
}

export interface TaskResult {
  readonly invocationId: string;
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly exitSignal: NodeJS.Signals | null;
  /** The last line the task wrote to its status pipe, if any. */
  readonly statusLine: string | undefined;
  /** A kill request sent the task a signal. */
  readonly killed: boolean;
  /** The main process died of a signal that no kill request sent. */
  readonly killedFromOutside: boolean;
  /**
   * Set when the task was given up on (a shutdown could not confirm it dead):
   * the pids still found holding its pipes or marker, possibly none.
   */
  readonly abandonedPids: readonly number[] | undefined;
  /** Why the task was given up on, when it was. */
  readonly abandonedReason: string | undefined;
  /** OOM kills its memory cgroup saw (with the limit), when there were any. */
  readonly oomKills: { readonly count: number; readonly memoryLimitBytes: number | undefined } | undefined;
  readonly launchFailure: LaunchFailure | undefined;
  /** Epoch milliseconds. */
  readonly startTime: number;
  readonly endTime: number;
}

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  readonly stream: LogStream;
  /** The line with its trailing newline, if it had one. */
  readonly text: string;
  /** Epoch milliseconds when it was read. */
  readonly time: number;
}

/** What callers hold for a started task (the supervisor's TaskProcess is one). */
export interface TaskHandle {
  readonly invocationId: string;
  /**
   * The launcher's pid (the task's main process after exec): undefined until the
   * clone (on the addon's launch thread) is reported, and if the spawn failed.
   */
  readonly pid: number | undefined;
  /** Epoch milliseconds. */
  readonly startTime: number;
  /** Resolves once the task is complete (it never rejects). */
  readonly done: Promise<TaskResult>;
  /** The task's cgroup directories, empty without containment. */
  readonly cgroupPaths: readonly string[];
  /** CPU and memory read from the task's cgroups now. */
  usage(): TaskUsage;
}

export type KillOutcome =
  | { readonly ok: true; readonly message: string }
  | {
      readonly ok: false;
      readonly reason: 'not_running' | 'wrong_invocation' | 'unknown_task';
      readonly message: string;
    };
