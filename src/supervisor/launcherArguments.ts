/**
 * The task launcher's command line and the child's descriptors, from the
 * task's options: pure, so what a task is started with can be read and
 * tested without starting anything. See native/src/task_launcher.c.
 */
import type { TaskSubprocessOptions } from '../config/taskSubprocess.js';
import { CANARY_FD, STATUS_FD } from './taskSpec.js';

/** Our pipes to a task: [read end, write end] each; `canary` only with use_canary_pipe. */
export interface TaskPipeFds {
  readonly stdout: readonly [number, number];
  readonly stderr: readonly [number, number];
  readonly launcher: readonly [number, number];
  readonly status: readonly [number, number];
  readonly canary?: readonly [number, number];
}

export interface LauncherInvocation {
  /** The launcher's arguments after its own path. */
  readonly args: string[];
  /** The child's descriptors 0..5: -1 = /dev/null, then write ends in the launcher's order. */
  readonly childFds: number[];
}

export function launcherInvocation(
  argv: readonly string[],
  cwd: string,
  options: TaskSubprocessOptions,
  pipes: TaskPipeFds,
  cgroupProcs: readonly string[],
  supervisorPid: number,
  /** The tasks' nice value, taken by the launcher as its first step. */
  taskNice?: number,
): LauncherInvocation {
  const args = ['--keep-fd', String(STATUS_FD), '--cwd', cwd];
  if (taskNice !== undefined) args.push('--nice', String(taskNice));
  if (pipes.canary) args.push('--keep-fd', String(CANARY_FD));
  // A group in the supervisor's session, not a session of its own: with the kernel's
  // autogroups, each new session would weigh as much as the whole supervisor for CPU.
  if (options.processGroupLeader) args.push('--setpgid');
  if (options.parentDeathSignal > 0) {
    args.push('--pdeathsig', String(options.parentDeathSignal), '--parent-pid', String(supervisorPid));
  }
  for (const procs of cgroupProcs) args.push('--cgroup-procs', procs);
  if (options.pidNamespace) args.push('--pid-namespace');
  args.push('--', ...argv);
  const childFds = [-1, pipes.stdout[1], pipes.stderr[1], pipes.launcher[1], pipes.status[1]];
  if (pipes.canary) childFds.push(pipes.canary[1]);
  return { args, childFds };
}

/** "<step> <errno> <message>" from the launcher's error pipe; undefined if it reported none. */
export function parseLauncherFailure(
  text: string,
): { step: string; errno: number; message: string } | undefined {
  const lines = text.split('\n').filter((line) => line !== '' && !/^init \d+$/.test(line));
  if (lines.length === 0) return undefined;
  const match = /^(\S+) (\d+) (.*)$/.exec(lines[0]!);
  if (!match) return { step: 'launcher', errno: 0, message: lines.join('; ') };
  return { step: match[1]!, errno: Number(match[2]), message: match[3]! };
}
