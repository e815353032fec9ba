/**
 * The task state of a scheduler on PostgreSQL: statuses and running-task
 * rows in the database (PgStatusStore), and this host's launch records
 * (pid, cgroups) in the local `statuses.sqlite`, which restart recovery
 * reads even when the database is out of reach. A launch record is removed
 * only after the task's completion committed in the database.
 */
import type { RunningTask } from '../../statuses/runningTask.js';
import type { TaskStatus } from '../../statuses/taskStatus.js';
import type { ProcessRecord, StatusStore, TaskStateStore } from '../statusStore.js';
import type { PgStatusStore } from './pgStatusStore.js';

export class SharedTaskState implements TaskStateStore {
  constructor(
    readonly local: StatusStore,
    readonly shared: PgStatusStore,
  ) {}

  queueStatus(job: string, node: string, status: TaskStatus): void {
    this.shared.queueStatus(job, node, status);
  }

  flush(): void {
    this.local.flush();
  }

  recordLaunch(task: RunningTask, cgroupPaths: readonly string[] = []): void {
    this.local.recordLaunch(task, cgroupPaths);
  }

  recordProcess(invocationId: string, process: ProcessRecord): void {
    this.local.recordProcess(invocationId, process);
  }

  completeTask(task: RunningTask, status: TaskStatus, keepLaunchRecord: boolean): void {
    this.shared.complete(task, status, () => {
      if (!keepLaunchRecord) this.local.removeLaunch(task.invocationId);
    });
  }

  get writable(): boolean {
    return this.local.writable && this.shared.writable;
  }

  checkpoint(): void {
    this.local.checkpoint();
  }
}
