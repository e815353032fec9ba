/**
 * Reading /proc/PID/stat. A pid alone does not name a process (pid_max is
 * small and pids are reused); pid plus start time does.
 */
import { readFileSync } from 'node:fs';

/** Fields after the command name: [state, ppid, pgrp, session, ...]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Start time in clock ticks since boot (field 22), or undefined if there is no such process. */
export function processStartTicks(pid: number): number | undefined {
  const field = statFields(pid)?.[19];
  return field === undefined ? undefined : Number(field);
}

export function processGroup(pid: number): number | undefined {
  const field = statFields(pid)?.[2];
  return field === undefined ? undefined : Number(field);
}

/** Present and not a zombie. */
export function isLive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The same process (pid and start time) is still alive. */
export function isSameLiveProcess(pid: number, startTicks: number | undefined): boolean {
  return startTicks !== undefined && isLive(pid) && processStartTicks(pid) === startTicks;
}
