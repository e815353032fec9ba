/**
 * `task_logs.sqlite`: stdout, stderr and task events
 * (`statuses` table), one row per line, keyed by a line id that sorts by
 * time: (epoch seconds << 32) | counter. Ids stay unique across restarts:
 * the counter continues after the largest id already stored.
 *
 * Writes are queued and flushed in one transaction (every 100 ms, or sooner
 * when the queue is large), so task output never waits on the disk inside
 * the event loop for long. Rows older than the retention are pruned.
 *
 * When a flush fails (a full disk), task events are kept for the retry (up
 * to MAX_KEPT_EVENTS) and task output is dropped and counted: output goes
 * before any event, and statuses live in their own store. Writing resumes
 * by itself once space returns.
 */
import { checkpointQuietly, openDatabase, probeWrite, type SqliteDatabase } from './database.js';
import { STORE_RETRY_MS, StoreHealth } from './storeHealth.js';
import { queryTaskLogs, type LogPage, type LogQuery } from './taskLogQueries.js';

export const LOG_TABLES = ['stdout', 'stderr', 'statuses'] as const;
export type LogTable = (typeof LOG_TABLES)[number];

/** Task logs as the runner, recovery and the API use them: SQLite here, PostgreSQL in store/postgres. */
export interface TaskLogs {
  append(table: LogTable, job: string, node: string, line: string, timeMs?: number): void;
  /** Starts writing what is queued (SQLite: at once). */
  flush(): void;
  /** Frees local space the store holds (SQLite's WAL); a no-op where there is none. */
  checkpoint(): void;
  query(query: LogQuery): LogPage | Promise<LogPage>;
  /** Deletes rows older than `retentionSec`; returns how many. */
  prune(retentionSec: number, nowMs?: number): number | Promise<number>;
  close(): void | Promise<void>;
}

const MIGRATIONS = [
  LOG_TABLES.map(
    (table) =>
      `CREATE TABLE ${table} (job_id TEXT NOT NULL, node_id TEXT NOT NULL, time_and_count INTEGER PRIMARY KEY, line TEXT NOT NULL);
       CREATE INDEX ${table}_job_node_idx ON ${table} (job_id, node_id);`,
  ).join('\n'),
];

const FLUSH_INTERVAL_MS = 100;
const FLUSH_QUEUE_ROWS = 5000;
/** Task events kept in memory while the store cannot write. */
export const MAX_KEPT_EVENTS = 100_000;

interface QueuedRow {
  readonly table: LogTable;
  readonly job: string;
  readonly node: string;
  readonly id: bigint;
  readonly line: string;
}

export class TaskLogStore implements TaskLogs {
  readonly db: SqliteDatabase;
  private queue: QueuedRow[] = [];
  private lastId: bigint;
  private timer: NodeJS.Timeout | undefined;
  private readonly inserts: Record<
    LogTable,
    { run(job: string, node: string, id: bigint, line: string): unknown }
  >;

  constructor(
    readonly file: string,
    private readonly health = new StoreHealth(),
  ) {
    this.db = openDatabase(file, MIGRATIONS);
    this.db.defaultSafeIntegers(true);
    let last = 0n;
    for (const table of LOG_TABLES) {
      const row = this.db.prepare(`SELECT MAX(time_and_count) AS id FROM ${table}`).get() as {
        id: bigint | null;
      };
      if (row.id !== null && row.id > last) last = row.id;
    }
    this.lastId = last;
    const insert = (table: LogTable) =>
      this.db.prepare<[string, string, bigint, string]>(
        `INSERT INTO ${table} (job_id, node_id, time_and_count, line) VALUES (?, ?, ?, ?)`,
      );
    this.inserts = { stdout: insert('stdout'), stderr: insert('stderr'), statuses: insert('statuses') };
  }

  /** A new line id for `timeMs`: time-ordered, unique, never below one already issued. */
  nextId(timeMs: number): bigint {
    const candidate = BigInt(Math.floor(timeMs / 1000)) << 32n;
    this.lastId = candidate > this.lastId ? candidate : this.lastId + 1n;
    return this.lastId;
  }

  append(table: LogTable, job: string, node: string, line: string, timeMs = Date.now()): bigint {
    const id = this.nextId(timeMs);
    const degraded = this.health.anyFailing;
    const failing = degraded && this.health.isFailing('task_logs');
    // Output goes before any status: none is written while statuses cannot be.
    if (degraded && table !== 'statuses') {
      this.health.droppedLogLines++;
      return id;
    }
    if (failing && this.queue.length >= MAX_KEPT_EVENTS) {
      this.health.droppedEvents++;
      return id;
    }
    this.queue.push({ table, job, node, id, line });
    if (this.queue.length >= FLUSH_QUEUE_ROWS && !failing) this.flush();
    else this.flushLater(failing ? STORE_RETRY_MS : FLUSH_INTERVAL_MS);
    return id;
  }

  /** Frees the space the WAL holds (see checkpointQuietly). */
  checkpoint(): void {
    checkpointQuietly(this.db);
  }

  query(query: LogQuery): LogPage {
    this.flush();
    return queryTaskLogs(this.db, query);
  }

  private flushLater(delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), delayMs);
    this.timer.unref();
  }

  flush(): number {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) {
      if (this.health.isFailing('task_logs')) this.probe();
      return 0;
    }
    const batch = this.queue;
    this.queue = [];
    try {
      this.db.transaction(() => {
        for (const row of batch) this.inserts[row.table].run(row.job, row.node, row.id, row.line);
      })();
    } catch (error) {
      this.health.failed('task_logs', error);
      const events = batch.filter((row) => row.table === 'statuses');
      this.health.droppedLogLines += batch.length - events.length;
      const kept = events.slice(-MAX_KEPT_EVENTS);
      this.health.droppedEvents += events.length - kept.length;
      this.queue = kept.concat(this.queue);
      this.checkpoint();
      this.flushLater(STORE_RETRY_MS);
      return 0;
    }
    this.health.succeeded('task_logs');
    return batch.length;
  }

  /** Whether writes work again, when nothing is queued to try them with. */
  private probe(): void {
    if (!this.health.probe('task_logs', () => probeWrite(this.db))) this.flushLater(STORE_RETRY_MS);
  }

  /** Deletes rows older than `retentionSec`; returns how many. */
  prune(retentionSec: number, nowMs = Date.now()): number {
    this.flush();
    const cutoff = BigInt(Math.floor(nowMs / 1000 - retentionSec)) << 32n;
    let deleted = 0;
    try {
      for (const table of LOG_TABLES)
        deleted += this.db.prepare(`DELETE FROM ${table} WHERE time_and_count < ?`).run(cutoff).changes;
    } catch (error) {
      this.health.failed('task_logs', error);
    }
    return deleted;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.flush();
    this.db.close();
  }
}
