/**
 * One supervised task: launch through the task launcher, read its pipes,
 * apply kill requests, and decide when it is complete and what its status is.
 *
 * Completion: the main process exited, every pipe the task
 * holds (stdout, stderr, status, canary) reached EOF, and its containment,
 * if any, is empty. So a grandchild holding stdout or the canary keeps the
 * task incomplete -- the canary "detects" escapes it cannot stop.
 *
 * Signals go to the task's process group while it leads
 * one and the group still has members, else to the main process while it
 * is unreaped; never to pid 0 or -1. Once a group is seen empty it is never
 * signalled again. Residual risk without containment: between two checks a
 * group can empty and its id be reused after a full wrap of the pid space;
 * cgroups remove that risk. When the main process exits, whatever is left
 * in its group (and containment) is SIGKILLed: nothing a task spawns in
 * reach outlives it. A process that escaped the group with setsid and closed
 * its pipes is out of reach without containment (a documented miss).
 */
import { constants as osConstants } from 'node:os';
import { Socket } from 'node:net';
import type { KillRequest } from '../config/killRequest.js';
import { parseStatusReport, type StatusReport } from '../statuses/parseStatus.js';
import { StatusBits as B, Synthesized } from '../statuses/taskStatus.js';
import { waitWithBackoff } from './containment/cgroupFs.js';
import type { ContainmentFactory } from './containment/containmentFactory.js';
import { LastLineReader } from './lastLineReader.js';
import { LineSplitter, MAX_LINE_BYTES } from './lineSplitter.js';
import { isLive, processStartTicks } from './procStat.js';
import type { LogQuota, LogRateLimiter } from './logRateLimiter.js';
import { launcherPath, native } from './native.js';
import { taskMarker } from './processScan.js';
import { fstatSync } from 'node:fs';
import type { TaskEvent, TaskEventName } from './taskEvents.js';
import {
  CANARY_FD,
  STATUS_FD,
  type KillOutcome,
  type LaunchFailure,
  type LogLine,
  type LogStream,
  type TaskContainment,
  type TaskResult,
  type TaskSpec,
  type TaskUsage,
} from './taskSpec.js';

export interface TaskProcessHooks {
  readonly limiter: LogRateLimiter;
  /** Creates the task's cgroups; undefined = never contain. */
  readonly containment: ContainmentFactory | undefined;
  readonly onEvent: (event: TaskEvent) => void;
  readonly onLog: (invocationId: string, line: LogLine) => void;
  /** Called once if processes survive SIGKILL past the unkillable timeout. */
  readonly onUnkillable?: (invocationId: string) => void;
  /** Called right before the spawn, with the task's cgroups; throwing fails the launch. */
  readonly beforeSpawn?: (invocationId: string, cgroupPaths: readonly string[]) => void;
  /** Called right after a successful spawn. */
  readonly afterSpawn?: (invocationId: string, pid: number) => void;
  /** The nice value every task takes before its launcher execs; undefined = the supervisor's. */
  readonly taskNice?: number;
  /** "NAME=value" pairs for a task without its own env; undefined = process.env now. */
  readonly environment?: () => readonly string[];
}

type PipeName = LogStream | 'status' | 'canary' | 'launcher';

/**
 * Lines delivered from a task's pipes after its processes are gone; the rest
 * is counted and dropped. Enough for a full pipe of one-character lines and
 * what the stream had buffered (a task that exits loses no output), and a
 * bound against a writer that escaped and keeps writing.
 */
export const MAX_DRAINED_LINES = 100_000;

const DEFAULT_UNKILLABLE_TIMEOUT_SEC = 60;

export class TaskProcess {
  readonly invocationId: string;
  readonly startTime = Date.now();
  readonly done: Promise<TaskResult>;
  pid: number | undefined;
  /** Set while the task leads its own process group. */
  readonly leadsGroup: boolean;

  private exited = false;
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private groupGone = false;
  private readonly openPipes = new Set<PipeName>();
  private readonly logSockets: Socket[] = [];
  private statusSocket: Socket | undefined;
  private statusResume: NodeJS.Timeout | undefined;
  private statusLine: string | undefined;
  private launcherOutput = '';
  private launchFailure: LaunchFailure | undefined;
  private killed = false;
  /** Set once the spawn was tried; a kill before it cancels the launch instead. */
  private spawnAttempted = false;
  private containment: TaskContainment | undefined;
  private containmentEmpty = true;
  /** With a PID namespace: its init, as seen from outside, and whether it is gone. */
  private namespaceInit: { pid: number; startTicks: number | undefined } | undefined;
  private namespaceEmpty = true;
  private complete = false;
  private killTimer: NodeJS.Timeout | undefined;
  private killTimerAt = Infinity;
  private unkillableTimer: NodeJS.Timeout | undefined;
  private quota: LogQuota | undefined;
  /** Set once the task's processes are gone: what is left in its pipes is read without a quota. */
  private draining = false;
  private drainedLines = 0;
  private droppedLines = 0;
  /** Our read ends of the task's pipes (the fd, to find processes still holding them). */
  private readonly readEnds: { fd: number; socket: Socket }[] = [];
  /** Why the task was given up on (shutdown could not confirm it dead). */
  private abandoned: string | undefined;
  private abandonedPids: readonly number[] = [];
  private resolveDone!: (result: TaskResult) => void;

  constructor(
    readonly spec: TaskSpec,
    private readonly hooks: TaskProcessHooks,
  ) {
    this.invocationId = spec.invocationId;
    this.leadsGroup = spec.options.processGroupLeader;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.launch();
  }

  get isComplete(): boolean {
    return this.complete;
  }

  get hasExited(): boolean {
    return this.exited;
  }

  /** CPU and memory from the task's cgroups; empty without containment. */
  usage(): TaskUsage {
    return this.containment?.usage() ?? {};
  }

  /** The task's cgroup directories (for restart records). */
  get cgroupPaths(): readonly string[] {
    return this.containment?.paths ?? [];
  }

  /** Applies a kill request. */
  kill(request: KillRequest, reason: string): KillOutcome {
    if (this.complete) {
      return { ok: false, reason: 'not_running', message: `task ${this.invocationId} already completed` };
    }
    this.emit('kill_requested', { method: request.method, kill_wait_ms: request.killWaitMs, reason });
    if (!this.spawnAttempted && !this.exited) {
      this.killed = true; // the pending launch sees it and never spawns
      return { ok: true, message: 'cancelled before it started' };
    }
    if (request.method === 'kill' || (request.method === 'term_wait_kill' && request.killWaitMs <= 0)) {
      this.sendKill(reason);
      return { ok: true, message: 'sent SIGKILL' };
    }
    this.signal('SIGTERM', reason);
    // A stopped task must still see the TERM.
    this.signal('SIGCONT', reason);
    if (request.method === 'term') return { ok: true, message: 'sent SIGTERM' };
    this.scheduleKill(Date.now() + request.killWaitMs, reason);
    return { ok: true, message: `sent SIGTERM; SIGKILL in ${request.killWaitMs} ms unless it completes` };
  }

  /** Plans the containment, creates it off the event loop, then spawns. */
  private launch(): void {
    const { spec } = this;
    let containment: TaskContainment | undefined;
    try {
      containment = this.hooks.containment?.create(spec.invocationId, spec.options, spec.limits);
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
        if (this.killed) {
          this.completeUnstarted();
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

  /** A task killed while its cgroups were being made never starts; it ends as killed. */
  private completeUnstarted(): void {
    this.exited = true;
    this.containmentEmpty = true;
    this.namespaceEmpty = true;
    this.checkComplete();
  }

  private spawnLauncher(): void {
    const { spec } = this;
    const options = spec.options;
    this.spawnAttempted = true;
    this.containmentEmpty = this.containment === undefined;
    this.namespaceEmpty = !options.pidNamespace;
    const pipes: Partial<Record<PipeName, [number, number]>> = {};
    try {
      for (const name of ['stdout', 'stderr', 'launcher', 'status'] as const)
        pipes[name] = native().createPipe();
      if (options.useCanaryPipe) pipes.canary = native().createPipe();
    } catch (error) {
      this.closeFds(Object.values(pipes).flat());
      this.failLaunch('pipe', error as NodeJS.ErrnoException);
      this.releaseContainment();
      return;
    }
    const args = ['--keep-fd', String(STATUS_FD), '--cwd', spec.cwd];
    if (pipes.canary) args.push('--keep-fd', String(CANARY_FD));
    // A group in the supervisor's session, not a session of its own: with the kernel's
    // autogroups, each new session would weigh as much as the whole supervisor for CPU.
    if (options.processGroupLeader) args.push('--setpgid');
    if (options.parentDeathSignal > 0) {
      args.push('--pdeathsig', String(options.parentDeathSignal), '--parent-pid', String(process.pid));
    }
    for (const procs of this.containment?.cgroupProcs ?? []) args.push('--cgroup-procs', procs);
    if (options.pidNamespace) args.push('--pid-namespace');
    args.push('--', ...spec.argv);
    // Child fds 0..5: stdin from /dev/null, then the pipes in the order the launcher expects.
    const childFds = [-1, pipes.stdout![1], pipes.stderr![1], pipes.launcher![1], pipes.status![1]];
    if (pipes.canary) childFds.push(pipes.canary[1]);

    try {
      // Durable records come first: a crash right after the spawn must still find the task.
      this.hooks.beforeSpawn?.(spec.invocationId, this.containment?.paths ?? []);
      const launcher = launcherPath();
      const environment = spec.env
        ? environmentList(spec.env)
        : (this.hooks.environment?.() ?? environmentList(process.env));
      this.pid = native().spawnProcess(
        launcher,
        [launcher, ...args],
        // The marker every process of the task inherits: how recovery and the last step of a
        // shutdown recognise its escaped descendants (supervisor/processScan.ts).
        [...environment, taskMarker(spec.invocationId)],
        childFds,
        (code, signalNumber) => this.onExit(code, signalName(signalNumber)),
        this.hooks.taskNice,
      );
    } catch (error) {
      this.closeFds(Object.values(pipes).map((pair) => pair[0]));
      this.failLaunch('spawn', error as NodeJS.ErrnoException);
      this.releaseContainment();
      return;
    } finally {
      // The child has its copies; ours must go so EOF means "every holder closed it".
      this.closeFds(Object.values(pipes).map((pair) => pair[1]));
    }
    this.hooks.afterSpawn?.(spec.invocationId, this.pid);
    this.quota = this.hooks.limiter.quota(options.maxLogLinesPerPollInterval, options.pollMs, {
      pause: () => {
        if (!this.draining) this.logSockets.forEach((socket) => socket.pause());
      },
      resume: () => this.logSockets.forEach((socket) => socket.resume()),
    });
    this.readLog('stdout', pipes.stdout![0]);
    this.readLog('stderr', pipes.stderr![0]);
    this.readStatus(pipes.status![0], options.pollMs);
    this.readToEnd('launcher', pipes.launcher![0], (chunk) => this.onLauncherOutput(chunk));
    if (pipes.canary) this.readToEnd('canary', pipes.canary[0], () => undefined);
    this.emit('running', { command: [...spec.argv], pid: this.pid });
  }

  private open(name: PipeName, fd: number): Socket {
    const socket = new Socket({ fd, readable: true, writable: false });
    this.openPipes.add(name);
    this.readEnds.push({ fd, socket });
    socket.once('close', () => {
      this.openPipes.delete(name);
      // The launcher reports a namespace's init before its pipe closes; none means no namespace was made.
      if (name === 'launcher' && !this.namespaceInit) this.namespaceEmpty = true;
      if (name !== 'launcher' && !this.hasTaskPipesOpen()) this.emit('task_pipes_closed', {});
      this.checkComplete();
    });
    socket.on('error', (error) => this.emit('task_pipe_error', { pipe: name, message: error.message }));
    return socket;
  }

  private hasTaskPipesOpen(): boolean {
    for (const name of this.openPipes) if (name !== 'launcher') return true;
    return false;
  }

  private readLog(stream: LogStream, fd: number): void {
    const splitter = new LineSplitter();
    const socket = this.open(stream, fd);
    this.logSockets.push(socket);
    const deliver = (line: Buffer) => {
      if (this.draining && ++this.drainedLines > MAX_DRAINED_LINES) {
        this.droppedLines++;
        return;
      }
      this.hooks.onLog(this.invocationId, { stream, text: line.toString('utf8'), time: Date.now() });
    };
    socket.on('data', (chunk: Buffer) => {
      let lines = 0;
      splitter.push(chunk, (line) => {
        lines++;
        deliver(line);
      });
      if (lines > 0 && !this.draining) this.quota?.spend(lines);
    });
    socket.once('end', () => splitter.end(deliver));
  }

  /**
   * The last line wins; a trailing empty line erases the status. Reading is
   * rate-limited: after each chunk the pipe rests one poll interval, so a
   * task that floods its status pipe blocks on its own writes instead of
   * keeping the scheduler busy.
   */
  private readStatus(fd: number, pollMs: number): void {
    const reader = new LastLineReader(MAX_LINE_BYTES);
    const socket = this.open('status', fd);
    this.statusSocket = socket;
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      this.statusLine = reader.last;
      if (this.draining) return;
      socket.pause();
      this.statusResume = setTimeout(() => socket.resume(), pollMs);
      this.statusResume.unref();
    });
    socket.once('end', () => {
      reader.end();
      this.statusLine = reader.last;
    });
  }

  private readToEnd(name: PipeName, fd: number, onData: (chunk: Buffer) => void): void {
    this.open(name, fd).on('data', onData);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.exitCode = code;
    this.exitSignal = signal;
    this.emit('process_exited', {
      message: signal ? `killed by signal ${signal}` : `exited with status ${code}`,
      exit_code: code,
      signal,
    });
    // Nothing the task spawned within reach may outlive it.
    if (this.leadsGroup && this.groupHasMembers()) this.sendTo('SIGKILL', 'main process exited', 'group');
    const containment = this.containment;
    if (containment) {
      this.watchUnkillable();
      containment
        .killRemaining()
        .then(() => {
          this.emit('cgroup_killed', { strategy: containment.strategy, reason: 'main process exited' });
          return containment.waitEmpty();
        })
        .then(
          () => {
            this.containmentEmpty = true;
            this.emit('cgroups_reaped', { paths: containment.paths });
            this.checkComplete();
          },
          (error: Error) => this.emit('task_pipe_error', { pipe: 'containment', message: error.message }),
        );
    }
    if (this.namespaceInit) this.waitForNamespace(this.namespaceInit);
    this.checkComplete();
  }

  private onLauncherOutput(chunk: Buffer): void {
    this.launcherOutput += chunk.toString('utf8');
    const match = /^init (\d+)$/m.exec(this.launcherOutput);
    if (match && !this.namespaceInit) {
      const pid = Number(match[1]);
      this.namespaceInit = { pid, startTicks: processStartTicks(pid) };
      if (this.exited) this.waitForNamespace(this.namespaceInit);
    }
  }

  /** The namespace is empty once its init is gone: the kernel kills the rest before init finishes exiting. */
  private waitForNamespace(init: { pid: number; startTicks: number | undefined }): void {
    const gone = () => {
      const ticks = processStartTicks(init.pid);
      return ticks === undefined || ticks !== init.startTicks || !isLive(init.pid);
    };
    waitWithBackoff(gone, 1).then(
      () => {
        this.namespaceEmpty = true;
        this.checkComplete();
      },
      (error: Error) => this.emit('task_pipe_error', { pipe: 'pid namespace', message: error.message }),
    );
  }

  private failLaunch(step: string, error: NodeJS.ErrnoException): void {
    this.launchFailure = { step, errno: Math.abs(Number(error.errno ?? 0)), message: error.message };
    this.exited = true;
    this.containmentEmpty = true;
    this.namespaceEmpty = true;
    for (const { socket } of this.readEnds) socket.destroy();
    this.openPipes.clear();
    queueMicrotask(() => this.checkComplete());
  }

  private groupHasMembers(): boolean {
    if (this.groupGone || this.pid === undefined || this.pid <= 1) return false;
    try {
      process.kill(-this.pid, 0);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') return true;
      this.groupGone = true;
      return false;
    }
  }

  private signal(signal: NodeJS.Signals, reason: string): void {
    this.killed = true;
    const containment = this.containment;
    // A cgroup holds the whole task: its own SIGKILL is exact (and a group SIGKILL racing a
    // v1 freeze would only leave dying processes frozen until the thaw).
    const viaCgroupOnly = containment !== undefined && signal === 'SIGKILL';
    const target = this.leadsGroup && this.groupHasMembers() ? 'group' : !this.exited ? 'process' : undefined;
    if (target && !viaCgroupOnly) this.sendTo(signal, reason, target);
    // The launcher joins its cgroups as its first step: a kill before that must reach it directly.
    else if (viaCgroupOnly && !this.exited) this.sendTo(signal, reason, 'process');
    if (containment) {
      const all = signal === 'SIGKILL' ? containment.killAll() : containment.signalAll(signal);
      all.then(
        () => {
          if (signal === 'SIGKILL') this.emit('cgroup_killed', { strategy: containment.strategy, reason });
        },
        (error: Error) => this.emit('task_pipe_error', { pipe: 'containment', message: error.message }),
      );
    }
  }

  private sendTo(signal: NodeJS.Signals, reason: string, target: 'group' | 'process'): void {
    const pid = this.pid;
    if (pid === undefined || pid <= 1) return;
    try {
      process.kill(target === 'group' ? -pid : pid, signal);
      this.emit('signal_sent', { signal, target, pid, reason });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH' && target === 'group') this.groupGone = true;
    }
  }

  private sendKill(reason: string): void {
    this.clearKillTimer();
    this.signal('SIGKILL', reason);
    this.watchUnkillable();
  }

  /** term_wait_kill's delayed SIGKILL: the earliest pending one wins. */
  private scheduleKill(at: number, reason: string): void {
    if (at >= this.killTimerAt) return;
    this.clearKillTimer();
    this.killTimerAt = at;
    this.killTimer = setTimeout(
      () => {
        this.killTimer = undefined;
        this.killTimerAt = Infinity;
        if (!this.complete) this.sendKill(`${reason} (after kill_wait_ms)`);
      },
      Math.max(0, at - Date.now()),
    );
  }

  private clearKillTimer(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = undefined;
    this.killTimerAt = Infinity;
  }

  private watchUnkillable(): void {
    if (this.unkillableTimer || this.complete) return;
    const seconds = this.spec.options.cgroups?.unkillableTimeoutSec ?? DEFAULT_UNKILLABLE_TIMEOUT_SEC;
    this.unkillableTimer = setTimeout(() => {
      if (this.complete) return;
      this.emit('unkillable', { message: `processes survived SIGKILL for ${seconds} s` });
      this.hooks.onUnkillable?.(this.invocationId);
    }, seconds * 1000);
    this.unkillableTimer.unref();
  }

  private checkComplete(): void {
    if (this.complete || !this.exited || !this.containmentEmpty || !this.namespaceEmpty) return;
    // The processes are gone: their slot must not wait for a paused log pipe. Drain what is
    // left without the quota (the rate limit protects us from running tasks, not dead ones).
    if (!this.draining) {
      this.draining = true;
      for (const socket of this.logSockets) socket.resume();
      if (this.statusResume) clearTimeout(this.statusResume);
      this.statusSocket?.resume();
    }
    if (this.openPipes.size > 0) return;
    this.complete = true;
    this.clearKillTimer();
    if (this.unkillableTimer) clearTimeout(this.unkillableTimer);
    this.quota?.dispose();
    if (!this.launchFailure) this.launchFailure = parseLauncherFailure(this.launcherOutput);
    if (this.droppedLines > 0) {
      this.emit('output_dropped', {
        lines: this.droppedLines,
        message: `dropped ${this.droppedLines} lines of output written after the task's processes were gone (bound ${MAX_DRAINED_LINES})`,
      });
    }
    const report = this.withContainmentSummary(this.finalReport());
    if (this.launchFailure) this.emit('task_failed_to_start', { status: report });
    else this.emit('got_status', { status: report, raw_status: this.statusLine ?? null });
    const finish = () =>
      this.resolveDone({
        invocationId: this.invocationId,
        pid: this.pid,
        exitCode: this.exitCode,
        exitSignal: this.exitSignal,
        statusLine: this.statusLine,
        report,
        killed: this.killed,
        killedFromOutside: this.killedFromOutside,
        abandonedPids: this.abandoned === undefined ? undefined : this.abandonedPids,
        launchFailure: this.launchFailure,
        startTime: this.startTime,
        endTime: Date.now(),
      });
    this.releaseContainment().then(finish, finish);
  }

  private async releaseContainment(): Promise<void> {
    const containment = this.containment;
    if (!containment) return;
    try {
      await containment.release();
    } catch (error) {
      this.emit('task_pipe_error', {
        pipe: 'containment',
        message: `cannot remove ${containment.paths.join(', ')}: ${(error as Error).message}`,
      });
    }
  }

  /** Adds OOM kills seen by the task's memory cgroup to its status data. */
  private withContainmentSummary(report: StatusReport): StatusReport {
    const summary = this.containment?.summary();
    if (!summary || summary.oomKills === 0) return report;
    this.emit('oom_killed', {
      oom_kills: summary.oomKills,
      memory_limit_bytes: summary.memoryLimitBytes ?? null,
    });
    const data =
      report.data !== null && typeof report.data === 'object' && !Array.isArray(report.data)
        ? report.data
        : report.data === undefined
          ? {}
          : { task_data: report.data };
    return {
      ...report,
      data: {
        ...data,
        oom_killed: true,
        oom_kills: summary.oomKills,
        memory_limit_bytes: summary.memoryLimitBytes ?? null,
      },
    };
  }

  private finalReport(): StatusReport {
    if (this.launchFailure) {
      const { step, errno, message } = this.launchFailure;
      return {
        bits: B.ERROR | B.USES_BACKOFF,
        data: {
          exception: `Failed to start task ${this.invocationId}: ${step}: ${message} (errno ${errno})`,
        },
      };
    }
    if (this.statusLine !== undefined && this.statusLine !== '') return parseStatusReport(this.statusLine);
    if (this.abandoned) {
      return {
        bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
        data: { exception: this.abandoned, exit_code: this.exitCode, signal: this.exitSignal },
      };
    }
    if (this.killed) {
      return {
        bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
        data: { exception: Synthesized.noStatusAfterKill, exit_code: this.exitCode, signal: this.exitSignal },
      };
    }
    if (this.exitSignal) {
      const number = osConstants.signals[this.exitSignal];
      return {
        bits: B.ERROR | B.USES_BACKOFF,
        data: {
          exception: `Task was killed by an outside signal ${number} (${this.exitSignal}), not by a kill request`,
          exit_code: null,
          signal: this.exitSignal,
        },
      };
    }
    return {
      bits: B.ERROR | B.USES_BACKOFF,
      data: {
        exception: `${Synthesized.noStatusAfterExit} (exited with status ${this.exitCode})`,
        exit_code: this.exitCode,
        signal: null,
      },
    };
  }

  /** True if the main process died of a signal no kill request sent. */
  get killedFromOutside(): boolean {
    return this.exitSignal !== null && !this.killed && this.launchFailure === undefined;
  }

  /**
   * The last step of a shutdown: SIGKILLs everything of the task in reach --
   * its process group, its cgroups, and `escaped`, the processes a scan found
   * carrying its marker or holding one of its pipes (see `addToScan`).
   */
  killReachable(reason: string, escaped: readonly number[]): void {
    if (this.complete) return;
    this.sendKill(reason);
    for (const pid of escaped) {
      try {
        process.kill(pid, 'SIGKILL');
        this.emit('signal_sent', { signal: 'SIGKILL', target: 'escaped', pid, reason });
      } catch {
        // gone meanwhile
      }
    }
  }

  /**
   * Adds what identifies the task's processes to a /proc scan (one scan
   * serves every task, supervisor/processScan.ts): its marker, and the
   * inodes of its open pipes. The marker names this invocation alone and a
   * pipe's inode is unique while our end is open, so each is proof enough;
   * processes started before the task are excluded while its main process
   * can still tell when that was.
   */
  addToScan(query: { invocations: Map<string, number>; pipeInodes: Map<number, string> }): void {
    if (this.complete || this.pid === undefined) return;
    for (const { fd, socket } of this.readEnds) {
      // A destroyed socket's descriptor may already belong to someone else.
      if (socket.destroyed) continue;
      try {
        query.pipeInodes.set(fstatSync(fd).ino, this.invocationId);
      } catch {
        // closed meanwhile
      }
    }
    const taskStart = !this.exited ? (processStartTicks(this.pid) ?? 0) : 0;
    query.invocations.set(this.invocationId, taskStart);
  }

  /**
   * Gives up waiting: completes the task now, with a status that says it
   * could not be confirmed dead (and which pids still held its pipes), and
   * closes our ends of its pipes. The runner keeps its launch record, so the
   * next start's recovery looks for it again.
   */
  abandon(reason: string, holders: readonly number[]): void {
    if (this.complete) return;
    const pending = [
      !this.exited && 'main process',
      !this.containmentEmpty && 'cgroups not empty',
      !this.namespaceEmpty && 'pid namespace',
      this.openPipes.size > 0 && `pipes open: ${[...this.openPipes].join(', ')}`,
    ].filter(Boolean);
    this.abandoned = `${reason}: could not confirm the task dead (${pending.join('; ')})${holders.length > 0 ? `; processes still holding its pipes or marker: ${holders.join(', ')}` : ''}`;
    this.emit('abandoned', { message: this.abandoned, pids: holders });
    this.abandonedPids = holders;
    for (const { socket } of this.readEnds) socket.destroy();
    this.openPipes.clear();
    this.exited = true;
    this.containmentEmpty = true;
    this.namespaceEmpty = true;
    this.checkComplete();
  }

  private closeFds(fds: readonly number[]): void {
    for (const fd of fds) native().closeFd(fd);
  }

  private emit(event: TaskEventName, fields: Record<string, unknown>): void {
    this.hooks.onEvent({ event, invocationId: this.invocationId, time: Date.now(), ...fields });
  }
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

function signalName(signalNumber: number | null): NodeJS.Signals | null {
  return signalNumber === null ? null : (SIGNAL_NAMES.get(signalNumber) ?? null);
}

export function environmentList(env: NodeJS.ProcessEnv): string[] {
  const list: string[] = [];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) list.push(`${name}=${value}`);
  return list;
}

/** "<step> <errno> <message>" from the launcher's error pipe; undefined if it reported none. */
export function parseLauncherFailure(text: string): LaunchFailure | undefined {
  const lines = text.split('\n').filter((line) => line !== '' && !/^init \d+$/.test(line));
  if (lines.length === 0) return undefined;
  const match = /^(\S+) (\d+) (.*)$/.exec(lines[0]!);
  if (!match) return { step: 'launcher', errno: 0, message: lines.join('; ') };
  return { step: match[1]!, errno: Number(match[2]), message: match[3]! };
}
