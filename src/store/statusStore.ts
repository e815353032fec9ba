/**
 * `statuses.sqlite`: every task status (not only done/failed, as in the
 * original), with its data and backoff state, so forgiveness and backoff
 * survive restarts; and the running-task records the runner writes before
 * each spawn, which a restarted scheduler uses to find and kill leftovers.
 *
 * Status writes are queued and written in one transaction per flush; a
 * status updated twice before a flush is written once. A flush that fails
 * (a full disk) keeps everything queued, including the launch records to
 * remove, reports to StoreHealth and retries; nothing is lost while the
 * scheduler lives.
 */
import type { RunningTask } from '../statuses/runningTask.js';
import type { TaskStatus } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import { checkpointQuietly, openDatabase, probeWrite, StoreError, type SqliteDatabase } from './database.js';
import { STORE_RETRY_MS, StoreHealth } from './storeHealth.js';

const MIGRATIONS = [
  `CREATE TABLE statuses (
     job TEXT NOT NULL,
     node TEXT NOT NULL,
     bits INTEGER NOT NULL,
     time REAL NOT NULL,
     backoff_sec INTEGER NOT NULL,
     progress_sec INTEGER NOT NULL,
     data TEXT,
     PRIMARY KEY (job, node)
   ) WITHOUT ROWID;
   CREATE TABLE running_tasks (
     invocation_id TEXT PRIMARY KEY,
     job TEXT NOT NULL,
     node TEXT NOT NULL,
     start_time REAL NOT NULL,
     charges TEXT NOT NULL,
     backoff TEXT NOT NULL,
     worker_shard TEXT NOT NULL,
     pid INTEGER,
     pid_start_time INTEGER,
     pgid INTEGER,
     cgroup_paths TEXT NOT NULL DEFAULT '[]'
   );`,
];

/** Where a launched task's processes can be found after a restart. */
export interface ProcessRecord {
  readonly pid: number;
  /** Start time from /proc/PID/stat (clock ticks since boot), guarding against pid reuse. */
  readonly pidStartTime: number;
  /** Process group the task leads, or undefined. */
  readonly pgid: number | undefined;
}

export interface RunningTaskRecord {
  readonly task: RunningTask;
  readonly process: ProcessRecord | undefined;
  readonly cgroupPaths: readonly string[];
}

/** A stored status row, as both stores keep it. */
export interface StatusRow {
  job: string;
  node: string;
  bits: number;
  time: number;
  backoff_sec: number;
  progress_sec: number;
  data: string | null;
}

export function statusFromRow(row: StatusRow): TaskStatus {
  return {
    bits: row.bits,
    time: row.time,
    backoffSec: row.backoff_sec,
    progressSec: row.progress_sec,
    ...(row.data === null ? {} : { data: JSON.parse(row.data) as unknown }),
  };
}

interface RunningRow {
  invocation_id: string;
  job: string;
  node: string;
  start_time: number;
  charges: string;
  backoff: string;
  worker_shard: string;
  pid: number | null;
  pid_start_time: number | null;
  pgid: number | null;
  cgroup_paths: string;
}

/**
 * What the runner, recovery and the pass need from the status store:
 * SQLite here; PostgreSQL plus local launch records in store/postgres.
 */
export interface TaskStateStore {
  /** Queues a changed status for the next write. */
  queueStatus(job: string, node: string, status: TaskStatus): void;
  /** Starts writing what is queued. */
  flush(): void;
  /** Durable record of a task about to be spawned on this host; throws if it cannot be written. */
  recordLaunch(task: RunningTask, cgroupPaths?: readonly string[]): void;
  /** Adds the process identity once the spawn succeeded; never throws. */
  recordProcess(invocationId: string, process: ProcessRecord): void;
  /**
   * A task is complete: writes its final status (already applied in memory)
   * and then removes its launch record, unless `keepLaunchRecord` (a task
   * given up on: the next start's recovery looks for it again).
   */
  completeTask(task: RunningTask, status: TaskStatus, keepLaunchRecord: boolean): void;
  /** Whether writes work; launches wait while they do not. */
  readonly writable: boolean;
  /** Frees local space the store holds (SQLite's WAL). */
  checkpoint(): void;
}

export class StatusStore implements TaskStateStore {
  private readonly db: SqliteDatabase;
  private readonly pending = new Map<string, { job: string; node: string; status: TaskStatus }>();
  /** Finished tasks whose launch records are still to be removed. */
  private readonly launchesToRemove = new Set<string>();
  /** Process identities of spawned tasks, written with the next transaction (at most one turn away). */
  private readonly processesToRecord = new Map<string, ProcessRecord>();
  private processFlush: NodeJS.Immediate | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly statements;

  constructor(
    readonly file: string,
    private readonly health = new StoreHealth(),
  ) {
    this.db = openDatabase(file, MIGRATIONS);
    this.statements = {
      upsertStatus: this.db.prepare(
        `INSERT INTO statuses (job, node, bits, time, backoff_sec, progress_sec, data)
         VALUES (@job, @node, @bits, @time, @backoff_sec, @progress_sec, @data)
         ON CONFLICT (job, node) DO UPDATE SET bits = excluded.bits, time = excluded.time,
           backoff_sec = excluded.backoff_sec, progress_sec = excluded.progress_sec, data = excluded.data`,
      ),
      allStatuses: this.db.prepare(
        'SELECT job, node, bits, time, backoff_sec, progress_sec, data FROM statuses',
      ),
      insertRunning: this.db.prepare(
        `INSERT INTO running_tasks (invocation_id, job, node, start_time, charges, backoff, worker_shard, cgroup_paths)
         VALUES (@invocation_id, @job, @node, @start_time, @charges, @backoff, @worker_shard, @cgroup_paths)`,
      ),
      updateProcess: this.db.prepare(
        'UPDATE running_tasks SET pid = @pid, pid_start_time = @pid_start_time, pgid = @pgid WHERE invocation_id = @invocation_id',
      ),
      deleteRunning: this.db.prepare('DELETE FROM running_tasks WHERE invocation_id = ?'),
      allRunning: this.db.prepare('SELECT * FROM running_tasks ORDER BY start_time'),
    };
  }

  /** Queues a status for the next flush. */
  queueStatus(job: string, node: string, status: TaskStatus): void {
    this.pending.set(`${job}\u0000${node}`, { job, node, status });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes every queued status in one transaction; returns how many. */
  flush(): number {
    return this.flushAndRemoveLaunch(undefined);
  }

  /**
   * Writes the queued statuses and, in the same transaction, removes a
   * finished task's launch record: its final status and the end of its
   * record land together, one write instead of two.
   */
  flushAndRemoveLaunch(invocationId: string | undefined): number {
    if (invocationId !== undefined) this.launchesToRemove.add(invocationId);
    if (this.pending.size === 0 && this.launchesToRemove.size === 0 && this.processesToRecord.size === 0) {
      if (!this.writable) this.probe();
      return 0;
    }
    const batch = [...this.pending.values()];
    const removals = [...this.launchesToRemove];
    const processes = [...this.processesToRecord];
    try {
      this.db.transaction(() => {
        for (const [id, process] of processes) {
          if (this.launchesToRemove.has(id)) continue;
          this.statements.updateProcess.run({
            invocation_id: id,
            pid: process.pid,
            pid_start_time: process.pidStartTime,
            pgid: process.pgid ?? null,
          });
        }
        for (const id of removals) this.statements.deleteRunning.run(id);
        for (const { job, node, status } of batch) {
          this.statements.upsertStatus.run({
            job,
            node,
            bits: status.bits,
            time: status.time,
            backoff_sec: status.backoffSec,
            progress_sec: status.progressSec,
            data: status.data === undefined ? null : JSON.stringify(status.data),
          });
        }
      })();
    } catch (error) {
      this.health.failed('statuses', error);
      this.retryLater();
      return 0;
    }
    // Statuses queued again meanwhile are newer: keep those.
    for (const entry of batch) {
      const key = `${entry.job}\u0000${entry.node}`;
      if (this.pending.get(key) === entry) this.pending.delete(key);
    }
    for (const id of removals) this.launchesToRemove.delete(id);
    for (const [id, process] of processes) {
      if (this.processesToRecord.get(id) === process) this.processesToRecord.delete(id);
    }
    this.health.succeeded('statuses');
    return batch.length;
  }

  /** Whether the last write succeeded; launches wait while it did not. */
  get writable(): boolean {
    return !this.health.isFailing('statuses');
  }

  private probe(): void {
    if (!this.health.probe('statuses', () => probeWrite(this.db))) this.retryLater();
  }

  /** Frees the space the WAL holds (see checkpointQuietly). */
  checkpoint(): void {
    checkpointQuietly(this.db);
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    this.checkpoint();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, STORE_RETRY_MS);
    this.retryTimer.unref();
  }

  /** Loads every stored status into `statuses` (at startup, before the first pass). */
  loadStatuses(statuses: TaskStatuses): number {
    let count = 0;
    for (const row of this.statements.allStatuses.iterate() as IterableIterator<StatusRow>) {
      statuses.load(row.job, row.node, statusFromRow(row));
      count++;
    }
    return count;
  }

  /** Durable record of a task about to be spawned; written before the spawn. */
  recordLaunch(task: RunningTask, cgroupPaths: readonly string[] = []): void {
    try {
      this.statements.insertRunning.run({
        invocation_id: task.invocationId,
        job: task.job,
        node: task.node,
        start_time: task.startTime,
        charges: JSON.stringify(task.charges),
        backoff: JSON.stringify(task.backoff),
        worker_shard: task.workerShard,
        cgroup_paths: JSON.stringify(cgroupPaths),
      });
    } catch (error) {
      // No record, no launch: a process the next start could not find must not exist.
      this.health.failed('statuses', error);
      this.retryLater();
      throw new StoreError(`cannot record the launch of ${task.invocationId}`, this.file, { cause: error });
    }
  }

  /**
   * Adds the process identity once the spawn succeeded, with the next write
   * of this store (another task's completion, or one transaction for every
   * identity of this turn of the event loop): a commit of its own cost the
   * event loop ~40 µs per task at 64 at once. Never throws: the process runs either
   * way, and without its pid a restart still finds it by its invocation
   * marker and cgroups.
   */
  recordProcess(invocationId: string, process: ProcessRecord): void {
    this.processesToRecord.set(invocationId, process);
    this.processFlush ??= setImmediate(() => {
      this.processFlush = undefined;
      if (this.processesToRecord.size > 0) this.flush();
    });
  }

  completeTask(task: RunningTask, _status: TaskStatus, keepLaunchRecord: boolean): void {
    // The status came through queueStatus with the in-memory change; it lands with the removal.
    if (keepLaunchRecord) this.flush();
    else this.flushAndRemoveLaunch(task.invocationId);
  }

  /** Removes the record once the task is complete and its status recorded (retried on failure). */
  removeLaunch(invocationId: string): void {
    this.flushAndRemoveLaunch(invocationId);
  }

  /** Records left by running (or crashed) schedulers, oldest first. */
  runningTaskRecords(): RunningTaskRecord[] {
    return (this.statements.allRunning.all() as RunningRow[]).map((row) => ({
      task: {
        job: row.job,
        node: row.node,
        invocationId: row.invocation_id,
        startTime: row.start_time,
        charges: JSON.parse(row.charges) as RunningTask['charges'],
        backoff: JSON.parse(row.backoff) as RunningTask['backoff'],
        workerShard: row.worker_shard,
      },
      process:
        row.pid === null || row.pid_start_time === null
          ? undefined
          : { pid: row.pid, pidStartTime: row.pid_start_time, pgid: row.pgid ?? undefined },
      cgroupPaths: JSON.parse(row.cgroup_paths) as string[],
    }));
  }

  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.processFlush) clearImmediate(this.processFlush);
    this.flush();
    this.db.close();
  }
}
