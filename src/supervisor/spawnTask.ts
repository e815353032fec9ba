/**
 * Starts one task's launcher: makes its pipes, writes the durable records
 * (the beforeSpawn hook) and spawns, with the task's marker in its
 * environment. Returns the launcher's pid and our read ends; a failure is a
 * LaunchStepError naming the step, with nothing left open.
 */
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { launcherInvocation, type TaskPipeFds } from './launcherArguments.js';
import { launcherPath, native } from './native.js';
import { taskMarker } from './processScan.js';
import type { PipeName } from './taskPipes.js';
import type { TaskContainment, TaskSpec } from './taskSpec.js';

export interface SpawnHooks {
  /** Called right before the spawn, with the task's cgroups; throwing fails the launch. */
  readonly beforeSpawn?: (invocationId: string, cgroupPaths: readonly string[]) => void;
  readonly environment?: () => readonly string[];
  readonly taskNice?: number;
}

export interface SpawnedTask {
  readonly pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22), when the spawn knew it. */
  readonly startTicks: number | undefined;
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

export function spawnTask(
  spec: TaskSpec,
  containment: TaskContainment | undefined,
  hooks: SpawnHooks,
  /** `ran` is false only for a launcher the kernel killed inside the clone: the task never started. */
  onExit: (code: number | null, signal: NodeJS.Signals | null, ran: boolean) => void,
): SpawnedTask {
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
  let pid: number;
  try {
    // Durable records come first: a crash right after the spawn must still find the task.
    hooks.beforeSpawn?.(spec.invocationId, containment?.paths ?? []);
    const launcher = launcherPath();
    const environment = spec.env
      ? environmentList(spec.env)
      : (hooks.environment?.() ?? environmentList(process.env));
    pid = native().spawnProcess(
      launcher,
      [launcher, ...args],
      // The marker every process of the task inherits: how recovery and the last step of a
      // shutdown recognise its escaped descendants (supervisor/processScan.ts).
      [...environment, taskMarker(spec.invocationId)],
      childFds,
      (code, signalNumber, ran) => onExit(code, signalName(signalNumber), ran),
      startCgroup,
    );
  } catch (error) {
    closeFds(made.map((pair) => pair[0]));
    throw new LaunchStepError('spawn', error as NodeJS.ErrnoException);
  } finally {
    // The child has its copies; ours must go so EOF means "every holder closed it".
    closeFds(made.map((pair) => pair[1]));
  }
  const startTicks = native().lastSpawnStartTicks();
  return {
    pid,
    startCgroup,
    startTicks: startTicks >= 0 ? startTicks : undefined,
    readFds: {
      stdout: pipes.stdout[0],
      stderr: pipes.stderr[0],
      status: pipes.status[0],
      launcher: pipes.launcher[0],
      ...(pipes.canary ? { canary: pipes.canary[0] } : {}),
    },
  };
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
