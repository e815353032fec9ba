/**
 * Restart recovery (SPEC §7): before the first pass, find what a previous
 * scheduler instance left running and kill it, so a crashed scheduler never
 * causes a second concurrent copy of a task.
 *
 * A running-task record is live if its pid still runs with the recorded
 * start time, if processes that started after it remain in its recorded
 * process group, or if its cgroups are not empty. Everything live is
 * SIGKILLed and reaped; the task's status becomes incomplete_backoff. Task
 * cgroups under the slice with no record are leftovers too.
 */
import { readdirSync } from 'node:fs';
import type { Logger } from '../logging/logger.js';
import { finalStatus } from '../statuses/backoff.js';
import { StatusBits as B } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { RunningTaskRecord, StatusStore } from '../store/statusStore.js';
import type { TaskLogStore } from '../store/taskLogStore.js';
import { readPidsRecursive } from '../supervisor/containment/cgroupFs.js';
import {
  findLeftoverCgroups,
  killLeftover,
  type LeftoverCgroup,
} from '../supervisor/containment/leftovers.js';
import type { ContainmentChoice } from '../supervisor/containment/containmentFactory.js';
import { isSameLiveProcess, processGroup, processStartTicks } from '../supervisor/procStat.js';

export interface RecoveryReport {
  readonly recordsChecked: number;
  /** Invocations that had live processes, killed. */
  readonly killed: readonly string[];
}

const KILL_WAIT_MS = 10_000;

export async function recoverLeftovers(
  store: StatusStore,
  statuses: TaskStatuses,
  logStore: TaskLogStore,
  containmentChoices: readonly ContainmentChoice[],
  logger: Logger,
): Promise<RecoveryReport> {
  const records = store.runningTaskRecords();
  const killed: string[] = [];
  const now = Date.now() / 1000;
  for (const record of records) {
    const { task } = record;
    const pids = livePids(record);
    const cgroups: LeftoverCgroup = {
      invocationId: task.invocationId,
      paths: record.cgroupPaths,
      pids: [...new Set(record.cgroupPaths.flatMap((path) => readPidsRecursive(path)))],
    };
    const live = pids.length > 0 || cgroups.pids.length > 0;
    if (live) {
      for (const pid of pids) signalKill(pid);
      await waitGone(pids);
    }
    if (record.cgroupPaths.length > 0) await killLeftover(cgroups, KILL_WAIT_MS);
    if (live) {
      killed.push(task.invocationId);
      logger.warn(
        { job: task.job, node: task.node, invocationId: task.invocationId, pids: [...pids, ...cgroups.pids] },
        'killed a task left running by a previous scheduler',
      );
    }
    const exception = live
      ? 'Task was still running from a previous scheduler instance; killed at restart'
      : 'Task was running when the previous scheduler instance stopped';
    const status = finalStatus(
      { bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF, data: { exception } },
      task.backoff,
      now,
    );
    statuses.load(task.job, task.node, status);
    store.queueStatus(task.job, task.node, status);
    logStore.append(
      'statuses',
      task.job,
      task.node,
      JSON.stringify({
        event: live ? 'leftover_killed' : 'leftover_gone',
        invocation_id: task.invocationId,
        status,
      }),
    );
    store.flush();
    store.removeLaunch(task.invocationId);
  }
  // Task cgroups nobody recorded (a crash between creating one and writing the record).
  for (const choice of containmentChoices) {
    for (const leftover of findLeftoverCgroups(choice)) {
      if (leftover.pids.length > 0) {
        killed.push(leftover.invocationId);
        logger.warn(
          { invocationId: leftover.invocationId, paths: leftover.paths },
          'killed processes in an unrecorded task cgroup',
        );
      }
      await killLeftover(leftover, KILL_WAIT_MS);
    }
  }
  // A RUNNING status with no record cannot be running: make it retryable.
  for (const job of [...statuses.jobs()]) {
    const table = statuses.table(job)!;
    for (const id of [...table.ids()]) {
      const status = table.get(id)!;
      if (!(status.bits & B.RUNNING)) continue;
      const node = statuses.names.name(id);
      const fixed = {
        ...status,
        bits: B.INCOMPLETE,
        time: now,
        data: { exception: 'Task was running when the previous scheduler instance stopped' },
      };
      statuses.load(job, node, fixed);
      store.queueStatus(job, node, fixed);
    }
  }
  store.flush();
  logStore.flush();
  return { recordsChecked: records.length, killed };
}

/** Live processes of a record: the recorded pid if it is the same process, and later members of its group. */
function livePids(record: RunningTaskRecord): number[] {
  const process_ = record.process;
  if (!process_) return [];
  const pids = new Set<number>();
  if (isSameLiveProcess(process_.pid, process_.pidStartTime)) pids.add(process_.pid);
  if (process_.pgid !== undefined) {
    for (const pid of groupMembersSince(process_.pgid, process_.pidStartTime)) pids.add(pid);
  }
  return [...pids];
}

/** Processes in group `pgid` that started no earlier than the group's leader did. */
function groupMembersSince(pgid: number, leaderStart: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (processGroup(pid) !== pgid) continue;
    const start = processStartTicks(pid);
    if (start !== undefined && start >= leaderStart) out.push(pid);
  }
  return out;
}

function signalKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitGone(pids: readonly number[]): Promise<void> {
  const starts = new Map(pids.map((pid) => [pid, processStartTicks(pid)]));
  const deadline = Date.now() + KILL_WAIT_MS;
  const alive = () =>
    pids.filter((pid) => starts.get(pid) !== undefined && isSameLiveProcess(pid, starts.get(pid)!));
  while (alive().length > 0) {
    if (Date.now() > deadline)
      throw new Error(`processes ${alive().join(', ')} survived SIGKILL for ${KILL_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
