/**
 * All task statuses in memory, plus the running tasks.
 *
 * One status per (job, node name). Starting a task records RUNNING and
 * remembers the RunningTask; its final status must name the same invocation
 * or it is ignored, so a late or repeated report can neither consume an
 * extra retry nor overwrite a newer run. Every change is passed to an
 * optional listener (the persistent store).
 */
import { NameInterner } from '../nodes/nameInterner.js';
import { backoffAtStart, finalStatus, forgiven } from './backoff.js';
import type { BackoffSettings } from '../config/backoff.js';
import { JobStatusTable } from './jobStatusTable.js';
import type { StatusReport } from './parseStatus.js';
import { taskKey, type RunningTask } from './runningTask.js';
import { Synthesized, type TaskStatus } from './taskStatus.js';

export type StatusListener = (job: string, node: string, status: TaskStatus) => void;

export type FinishOutcome =
  | { readonly applied: true; readonly status: TaskStatus; readonly task: RunningTask }
  | { readonly applied: false; readonly reason: string };

export class TaskStatuses {
  readonly names: NameInterner;
  private readonly tables = new Map<string, JobStatusTable>();
  private readonly running = new Map<string, RunningTask>();
  private listener: StatusListener | undefined;

  /**
   * `keepStatuses: false` keeps the running tasks only: every status still
   * goes to the listener, none is kept. For a remote worker, whose statuses
   * live in the database and come back with each task's spec: otherwise its
   * memory would grow with every node it ever ran.
   */
  constructor(
    names: NameInterner = new NameInterner(),
    private readonly keepStatuses = true,
  ) {
    this.names = names;
  }

  /** Running tasks only: statuses go to the listener and are not kept (a remote worker's). */
  static runningOnly(): TaskStatuses {
    return new TaskStatuses(new NameInterner(), false);
  }

  onChange(listener: StatusListener | undefined): void {
    this.listener = listener;
  }

  table(job: string): JobStatusTable | undefined {
    return this.tables.get(job);
  }

  jobs(): IterableIterator<string> {
    return this.tables.keys();
  }

  get(job: string, node: string): TaskStatus | undefined {
    return this.tables.get(job)?.get(this.names.lookup(node));
  }

  /** Sets a status directly (loading from the store, tests). Does not notify. */
  load(job: string, node: string, status: TaskStatus): void {
    if (!this.keepStatuses) return;
    const nameId = this.names.intern(node);
    this.tableFor(job).set(nameId, status, this.names.size);
  }

  /** Forgets every status and running task (before a reload from a shared store). */
  clear(): void {
    this.tables.clear();
    this.running.clear();
  }

  /** Takes a task another process started as running (loading from a shared store). Does not notify. */
  adoptRunning(task: RunningTask): void {
    this.running.set(taskKey(task.job, task.node), task);
    this.load(task.job, task.node, Synthesized.running(task.startTime));
  }

  runningTasks(): IterableIterator<RunningTask> {
    return this.running.values();
  }

  runningTask(job: string, node: string): RunningTask | undefined {
    return this.running.get(taskKey(job, node));
  }

  /** The running task of this invocation (a linear scan: for kills, not per-task paths). */
  runningInvocation(invocationId: string): RunningTask | undefined {
    for (const task of this.running.values()) if (task.invocationId === invocationId) return task;
    return undefined;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** What a task about to start needs to know about its backoff. */
  backoffFor(job: string, node: string, backoff: BackoffSettings) {
    return backoffAtStart(backoff, this.get(job, node));
  }

  /** Records RUNNING for a task the runner is starting. */
  recordStart(task: RunningTask): void {
    const key = taskKey(task.job, task.node);
    if (this.running.has(key)) {
      throw new Error(
        `task ${task.job} on ${task.node} is already running as ${this.running.get(key)!.invocationId}`,
      );
    }
    this.running.set(key, task);
    this.update(task.job, task.node, Synthesized.running(task.startTime));
  }

  /**
   * A start that never happened (its shared record could not be written):
   * forgets the task and puts `previous` back. Does not notify.
   */
  cancelStart(task: RunningTask, previous: TaskStatus | undefined): void {
    const key = taskKey(task.job, task.node);
    if (this.running.get(key)?.invocationId !== task.invocationId) return;
    this.running.delete(key);
    if (previous) this.load(task.job, task.node, previous);
    else if (this.keepStatuses) this.tableFor(task.job).clear(this.names.intern(task.node));
  }

  /** Applies a finished task's report; ignored unless it names the running invocation. */
  recordFinish(
    job: string,
    node: string,
    invocationId: string,
    report: StatusReport,
    time: number,
  ): FinishOutcome {
    const key = taskKey(job, node);
    const task = this.running.get(key);
    if (!task) return { applied: false, reason: `task ${job} on ${node} is already not running` };
    if (task.invocationId !== invocationId) {
      return {
        applied: false,
        reason: `task ${job} on ${node} is running as ${task.invocationId}, not ${invocationId}`,
      };
    }
    this.running.delete(key);
    const status = finalStatus(report, task.backoff, time);
    this.update(job, node, status);
    return { applied: true, status, task };
  }

  /**
   * A task another process ran and completed (a remote worker): its final
   * status is already stored, so this only forgets the task and takes the
   * status; false unless `invocationId` is the running one. Does not notify.
   */
  finishedElsewhere(job: string, node: string, invocationId: string, status: TaskStatus): boolean {
    const key = taskKey(job, node);
    if (this.running.get(key)?.invocationId !== invocationId) return false;
    this.running.delete(key);
    this.load(job, node, status);
    return true;
  }

  /** Forgives every status of `job`; returns how many changed. */
  forgive(job: string): number {
    const table = this.tables.get(job);
    if (!table) return 0;
    let changed = 0;
    for (const id of [...table.ids()]) {
      const status = table.get(id)!;
      const next = forgiven(status);
      if (next !== status) {
        changed++;
        this.update(job, this.names.name(id), next);
      }
    }
    return changed;
  }

  private update(job: string, node: string, status: TaskStatus): void {
    if (this.keepStatuses) this.tableFor(job).set(this.names.intern(node), status, this.names.size);
    this.listener?.(job, node, status);
  }

  private tableFor(job: string): JobStatusTable {
    let table = this.tables.get(job);
    if (!table) {
      table = new JobStatusTable();
      this.tables.set(job, table);
    }
    return table;
  }
}
