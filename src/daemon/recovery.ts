/**
 * Restart recovery (README, "Running the scheduler"): before the
 * first pass, find what a previous run of this instance left running and
 * kill it, so a crashed scheduler never causes a second concurrent copy of
 * a task.
 *
 * Only what is provably this instance's is touched: the processes that
 * carry a recorded invocation's marker and started no earlier than it
 * (see supervisor/processScan.ts), the recorded task cgroups, and task
 * cgroups under this instance's own cgroup sub-tree. Another instance's
 * cgroups and processes are never read for killing. Everything found is
 * SIGKILLed and reaped; the task's status becomes incomplete_backoff. A
 * filesystem race (a cgroup that vanished or is being removed) is logged,
 * never thrown.
 */
import type { Logger } from '../logging/logger.js';
import { finalStatus } from '../statuses/backoff.js';
import { StatusBits as B } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { RunningTaskRecord, StatusStore, TaskStateStore } from '../store/statusStore.js';
import type { TaskLogs } from '../store/taskLogStore.js';
import { readPidsRecursive } from '../supervisor/containment/cgroupFs.js';
import { findLeftoverCgroups, killLeftover } from '../supervisor/containment/leftovers.js';
import type { ContainmentChoice } from '../supervisor/containment/containmentFactory.js';
import { findTaskProcesses } from '../supervisor/processScan.js';
import { isSameLiveProcess, processStartTicks } from '../supervisor/procStat.js';

export interface RecoveryReport {
  readonly recordsChecked: number;
  /** Invocations that had live processes, killed. */
  readonly killed: readonly string[];
  /** Problems met (and logged) on the way; recovery went on past each. */
  readonly problems: readonly string[];
}

const KILL_WAIT_MS = 10_000;

export async function recoverLeftovers(
  launchRecords: StatusStore,
  store: TaskStateStore,
  statuses: TaskStatuses,
  logStore: TaskLogs,
  containmentChoices: readonly ContainmentChoice[],
  logger: Logger,
): Promise<RecoveryReport> {
  const records = launchRecords.runningTaskRecords();
  const killed: string[] = [];
  const problems: string[] = [];
  const problem = (message: string, fields: Record<string, unknown>) => {
    problems.push(message);
    logger.error(fields, message);
  };
  const now = Date.now() / 1000;
  const marked = findTaskProcesses({
    invocations: new Map(records.map((r) => [r.task.invocationId, r.process?.pidStartTime ?? 0])),
  });
  for (const record of records) {
    const { task } = record;
    let live: boolean;
    try {
      live = await killRecorded(record, marked.get(task.invocationId) ?? [], logger);
    } catch (error) {
      live = true;
      problem(
        `recovery could not confirm the leftover task ${task.invocationId} dead: ${(error as Error).message}`,
        {
          job: task.job,
          node: task.node,
          invocationId: task.invocationId,
        },
      );
    }
    if (live) killed.push(task.invocationId);
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
    // With a shared store this is the task's completion, keyed by its invocation.
    store.completeTask(task, status, false);
  }
  // Task cgroups of this instance nobody recorded (a crash between creating one and writing the record).
  for (const choice of containmentChoices) {
    let leftovers: ReturnType<typeof findLeftoverCgroups> = [];
    try {
      leftovers = findLeftoverCgroups(choice);
    } catch (error) {
      problem(`recovery could not list this instance's task cgroups: ${(error as Error).message}`, {});
    }
    for (const leftover of leftovers) {
      if (leftover.pids.length > 0) {
        killed.push(leftover.invocationId);
        logger.warn(
          { invocationId: leftover.invocationId, paths: leftover.paths },
          'killed processes in an unrecorded task cgroup of this instance',
        );
      }
      try {
        await killLeftover(leftover, KILL_WAIT_MS);
      } catch (error) {
        problem(
          `recovery could not remove the task cgroup ${leftover.paths.join(', ')}: ${(error as Error).message}`,
          {
            invocationId: leftover.invocationId,
          },
        );
      }
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
  return { recordsChecked: records.length, killed, problems };
}

/**
 * SIGKILLs a record's processes (those carrying its marker, found by the
 * caller) and empties its recorded cgroups; true if anything was alive.
 */
async function killRecorded(
  record: RunningTaskRecord,
  marked: readonly number[],
  logger: Logger,
): Promise<boolean> {
  const { task } = record;
  const cgroupPids = [...new Set(record.cgroupPaths.flatMap((path) => readPidsRecursive(path)))];
  const live = marked.length > 0 || cgroupPids.length > 0;
  const starts = new Map(marked.map((pid) => [pid, processStartTicks(pid)]));
  for (const pid of marked) signalKill(pid);
  if (record.cgroupPaths.length > 0)
    await killLeftover(
      { invocationId: task.invocationId, paths: record.cgroupPaths, pids: cgroupPids },
      KILL_WAIT_MS,
    );
  await waitGone(starts);
  if (live) {
    logger.warn(
      { job: task.job, node: task.node, invocationId: task.invocationId, pids: [...marked, ...cgroupPids] },
      'killed a task left running by a previous scheduler',
    );
  }
  return live;
}

function signalKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitGone(starts: ReadonlyMap<number, number | undefined>): Promise<void> {
  const deadline = Date.now() + KILL_WAIT_MS;
  const alive = () =>
    [...starts]
      .filter(([pid, start]) => start !== undefined && isSameLiveProcess(pid, start))
      .map(([pid]) => pid);
  while (alive().length > 0) {
    if (Date.now() > deadline)
      throw new Error(`processes ${alive().join(', ')} survived SIGKILL for ${KILL_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
