/**
 * Finding a task's processes by proof, not by guess. Every task process
 * starts with `BISTRO_INVOCATION_ID=<invocation id>` in its environment,
 * and its children inherit it, also those that leave the task's process
 * group (setsid, double fork) or its cgroup. A process is the task's if it
 * carries the marker (or holds one of the task's pipes) *and* started no
 * earlier than the task did; a pid that merely equals a recorded one proves
 * nothing.
 *
 * Scanning /proc costs a read per process on the host, so it runs only at
 * restart recovery and at the last step of a shutdown, never per task.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { processStartTicks } from './procStat.js';

export const TASK_MARKER_VARIABLE = 'BISTRO_INVOCATION_ID';

/** The environment entry that marks the processes of one invocation. */
export function taskMarker(invocationId: string): string {
  return `${TASK_MARKER_VARIABLE}=${invocationId}`;
}

export interface TaskProcessQuery {
  /** Invocation id -> the task's start, in clock ticks since boot (processes started before it are not its). */
  readonly invocations: ReadonlyMap<string, number>;
  /** Pipe inode -> invocation id: processes holding one of a task's pipes. */
  readonly pipeInodes?: ReadonlyMap<number, string>;
  /** Pids never to report (the scanner itself). */
  readonly exclude?: ReadonlySet<number>;
}

/** Live processes of each queried invocation, found in one pass over /proc. */
export function findTaskProcesses(query: TaskProcessQuery): Map<string, number[]> {
  const found = new Map<string, number[]>();
  if (query.invocations.size === 0) return found;
  const prefix = `${TASK_MARKER_VARIABLE}=`;
  for (const entry of listProc()) {
    const pid = Number(entry);
    if (pid <= 1 || pid === process.pid || query.exclude?.has(pid)) continue;
    const owner = markerOf(pid, prefix) ?? pipeOwner(pid, query.pipeInodes);
    if (owner === undefined) continue;
    const taskStart = query.invocations.get(owner);
    if (taskStart === undefined) continue;
    const start = processStartTicks(pid);
    if (start === undefined || start < taskStart) continue;
    found.set(owner, [...(found.get(owner) ?? []), pid]);
  }
  return found;
}

function listProc(): string[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
}

/** The invocation id in a process's environment, if it carries one. */
function markerOf(pid: number, prefix: string): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined; // gone, or not ours to read
  }
  const at = environ.startsWith(prefix) ? 0 : environ.indexOf(`\0${prefix}`);
  if (at < 0) return undefined;
  const start = at === 0 ? prefix.length : at + 1 + prefix.length;
  const end = environ.indexOf('\0', start);
  return environ.slice(start, end < 0 ? undefined : end);
}

function pipeOwner(pid: number, inodes: ReadonlyMap<number, string> | undefined): string | undefined {
  if (!inodes || inodes.size === 0) return undefined;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const match = /^pipe:\[(\d+)\]$/.exec(target);
    const owner = match ? inodes.get(Number(match[1])) : undefined;
    if (owner !== undefined) return owner;
  }
  return undefined;
}
