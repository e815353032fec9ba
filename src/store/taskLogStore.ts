/**
 * `task_logs.sqlite` (reference §7.7): stdout, stderr and task events
 * (`statuses` table), one row per line, keyed by a line id that sorts by
 * time: (epoch seconds << 32) | counter. Ids stay unique across restarts:
 * the counter continues after the largest id already stored.
 *
 * Writes are queued and flushed in one transaction (every 100 ms, or sooner
 * when the queue is large), so task output never waits on the disk inside
 * the event loop for long. Rows older than the retention are pruned.
 */
import { openDatabase, type SqliteDatabase } from './database.js';

export const LOG_TABLES = ['stdout', 'stderr', 'statuses'] as const;
export type LogTable = (typeof LOG_TABLES)[number];

const MIGRATIONS = [
  LOG_TABLES.map(
    (table) =>
      `CREATE TABLE ${table} (job_id TEXT NOT NULL, node_id TEXT NOT NULL, time_and_count INTEGER PRIMARY KEY, line TEXT NOT NULL);
       CREATE INDEX ${table}_job_node_idx ON ${table} (job_id, node_id);`,
  ).join('\n'),
];

const FLUSH_INTERVAL_MS = 100;
const FLUSH_QUEUE_ROWS = 5000;

interface QueuedRow {
  readonly table: LogTable;
  readonly job: string;
  readonly node: string;
  readonly id: bigint;
  readonly line: string;
}

export class TaskLogStore {
  readonly db: SqliteDatabase;
  private queue: QueuedRow[] = [];
  private lastId: bigint;
  private timer: NodeJS.Timeout | undefined;
  private readonly inserts: Record<
    LogTable,
    { run(job: string, node: string, id: bigint, line: string): unknown }
  >;

  constructor(readonly file: string) {
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
    this.queue.push({ table, job, node, id, line });
    if (this.queue.length >= FLUSH_QUEUE_ROWS) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
    return id;
  }

  flush(): number {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return 0;
    const batch = this.queue;
    this.queue = [];
    this.db.transaction(() => {
      for (const row of batch) this.inserts[row.table].run(row.job, row.node, row.id, row.line);
    })();
    return batch.length;
  }

  /** Deletes rows older than `retentionSec`; returns how many. */
  prune(retentionSec: number, nowMs = Date.now()): number {
    this.flush();
    const cutoff = BigInt(Math.floor(nowMs / 1000 - retentionSec)) << 32n;
    let deleted = 0;
    for (const table of LOG_TABLES)
      deleted += this.db.prepare(`DELETE FROM ${table} WHERE time_and_count < ?`).run(cutoff).changes;
    return deleted;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
