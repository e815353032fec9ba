/**
 * Starts one task's launcher: makes its pipes, writes the durable records
 * (the beforeSpawn hook) and queues the spawn, with the task's marker in its
 * environment. The clone itself happens off the event loop (the addon's
 * launch thread); `onStarted` gets the launcher's pid and our read ends, or
 * a LaunchStepError naming the step, with nothing left open. A failure
 * before the spawn is queued is thrown instead.
 */
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { launcherInvocation, type TaskPipeFds } from './launcherArguments.js';
import { launcherPath, native } from './native.js';
import { taskMarker } from './processScan.js';
import type { PipeName } from './taskPipes.js';
import type { LauncherStart, TaskContainment, TaskSpec } from './taskSpec.js';

export interface SpawnHooks {
  /** Called right before the spawn, with the task's cgroups; throwing fails the launch. */
  readonly beforeSpawn?: (invocationId: string, cgroupPaths: readonly string[]) => void;
  readonly environment?: () => readonly string[];
  readonly taskNice?: number;
}

export interface SpawnedTask extends LauncherStart {
  /** Our read ends of the task's pipes. */
  readonly readFds: Partial<Record<PipeName, number>>;
  /** The launcher was cloned straight into this cgroup (TaskContainment.startCgroup). */
  readonly startCgroup: string | undefined;
}

export class LaunchStepError extends Error {
  readonly errno: number | undefined;

  constructor(
    readonly step: 'pipe' | 'spawn',
    cause: NodeJS.ErrnoException,
  ) {
    super(cause.message, { cause });
    this.name = 'LaunchStepError';
    this.errno = cause.errno;
  }
}

export interface SpawnCallbacks {
  /** The launcher exists (or could not be started). */
  readonly onStarted: (spawned: SpawnedTask | LaunchStepError) => void;
  /** `ran` is false only for a launcher that died before its first instruction: the task never started. */
  readonly onExit: (code: number | null, signal: NodeJS.Signals | null, ran: boolean) => void;
}

export function spawnTask(
  spec: TaskSpec,
  containment: TaskContainment | undefined,
  hooks: SpawnHooks,
  callbacks: SpawnCallbacks,
): void {
  const made: (readonly [number, number])[] = [];
  const pipe = () => {
    const pair = native().createPipe();
    made.push(pair);
    return pair;
  };
  let pipes: TaskPipeFds;
  try {
    pipes = {
      stdout: pipe(),
      stderr: pipe(),
      launcher: pipe(),
      status: pipe(),
      ...(spec.options.useCanaryPipe ? { canary: pipe() } : {}),
    };
  } catch (error) {
    closeFds(made.flat());
    throw new LaunchStepError('pipe', error as NodeJS.ErrnoException);
  }
  const readEnds = made.map((pair) => pair[0]);
  const startCgroup = containment?.startCgroup?.();
  const { args, childFds } = launcherInvocation(
    spec.argv,
    spec.cwd,
    spec.options,
    pipes,
    joinedCgroups(containment, startCgroup),
    process.pid,
    hooks.taskNice,
  );
  try {
    // Durable records come first: a crash right after the spawn must still find the task.
    hooks.beforeSpawn?.(spec.invocationId, containment?.paths ?? []);
    const launcher = launcherPath();
    const environment = spec.env
      ? environmentList(spec.env)
      : (hooks.environment?.() ?? environmentList(process.env));
    native().spawnProcess(
      launcher,
      [launcher, ...args],
      // The marker every process of the task inherits: how recovery and the last step of a
      // shutdown recognise its escaped descendants (supervisor/processScan.ts).
      [...environment, taskMarker(spec.invocationId)],
      childFds,
      (error, pid, startTicks, startedAtMs) => {
        if (error) {
          closeFds(readEnds);
          callbacks.onStarted(new LaunchStepError('spawn', error));
          return;
        }
        callbacks.onStarted({
          pid,
          startCgroup,
          startedAtMs,
          startTicks: startTicks >= 0 ? startTicks : undefined,
          readFds: {
            stdout: pipes.stdout[0],
            stderr: pipes.stderr[0],
            status: pipes.status[0],
            launcher: pipes.launcher[0],
            ...(pipes.canary ? { canary: pipes.canary[0] } : {}),
          },
        });
      },
      (code, signalNumber, ran) => callbacks.onExit(code, signalName(signalNumber), ran),
      startCgroup,
    );
  } catch (error) {
    closeFds(readEnds);
    throw new LaunchStepError('spawn', error as NodeJS.ErrnoException);
  } finally {
    // The addon keeps its own copies until the clone; ours must go so EOF means "every holder closed it".
    closeFds(made.map((pair) => pair[1]));
  }
}

/** The cgroup.procs files the launcher writes itself into: all but the one it is cloned into. */
function joinedCgroups(containment: TaskContainment | undefined, startCgroup: string | undefined): string[] {
  const procs = containment?.cgroupProcs ?? [];
  return startCgroup === undefined
    ? [...procs]
    : procs.filter((path) => path !== join(startCgroup, 'cgroup.procs'));
}

function closeFds(fds: readonly number[]): void {
  for (const fd of fds) native().closeFd(fd);
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
