/**
 * Task logs (stdout, stderr, events) in PostgreSQL, with the SQLite store's
 * semantics: line ids sort by time ((epoch seconds << 32) | counter), are
 * unique across restarts and across every scheduler and worker on the
 * database, and are issued in commit order: each flush locks the single
 * `task_log_clock` row, so a tailer paging by line id never skips a row
 * that committed after it read.
 *
 * Lines are buffered and written in one transaction per flush (every
 * 100 ms). While the database cannot be reached they stay buffered up to a
 * bound; past it the oldest task output is dropped first (counted), and
 * events are kept up to MAX_KEPT_EVENTS.
 */
import type { LogLineRow, LogPage, LogQuery } from '../taskLogQueries.js';
import { DEFAULT_PAGE_SIZE, startLineId } from '../taskLogQueries.js';
import { MAX_KEPT_EVENTS, type LogTable, type TaskLogs } from '../taskLogStore.js';
import { STORE_RETRY_MS, type StoreHealth } from '../storeHealth.js';
import { isConnectionError, prepared, type PgPool } from './connection.js';

const FLUSH_INTERVAL_MS = 100;
const ROWS_PER_TRANSACTION = 5000;
/** Task output lines kept while the database cannot be written. */
export const MAX_BUFFERED_OUTPUT = 100_000;
const READ_CHUNK = 1000;

interface BufferedLine {
  readonly table: LogTable;
  readonly job: string;
  readonly node: string;
  readonly timeMs: number;
  readonly line: string;
}

export class PgTaskLogStore implements TaskLogs {
  private buffer: BufferedLine[] = [];
  private outputCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly pool: PgPool,
    private readonly health: StoreHealth,
    /** The worker whose tasks write here: every line names it. */
    private readonly worker?: string,
  ) {}

  append(table: LogTable, job: string, node: string, line: string, timeMs = Date.now()): void {
    if (table !== 'statuses') {
      this.outputCount++;
      if (this.outputCount > MAX_BUFFERED_OUTPUT) this.dropOldestOutput();
    }
    this.buffer.push({ table, job, node, timeMs, line });
    if (this.buffer.length - this.outputCount > MAX_KEPT_EVENTS) this.dropOldestEvent();
    this.flushLater(this.health.isFailing('task_logs') ? STORE_RETRY_MS : FLUSH_INTERVAL_MS);
  }

  /** Starts writing what is buffered (the write completes asynchronously). */
  flush(): void {
    void this.write();
  }

  /** Writes everything buffered so far; resolves when done or when a write failed. */
  async write(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.writing) await this.writing;
    if (this.buffer.length === 0) return;
    this.writing = this.writeBatches().finally(() => (this.writing = undefined));
    await this.writing;
  }

  checkpoint(): void {
    // Nothing local to free: the server manages its own WAL.
  }

  async query(query: LogQuery): Promise<LogPage> {
    await this.write();
    const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
    const asc = query.sort === 'asc';
    let start = startLineId(query);
    const lines: LogLineRow[] = [];
    for (;;) {
      const params: unknown[] = [query.table];
      const where = ['kind = $1'];
      if (start !== undefined) {
        params.push(start.toString());
        where.push(`line_id ${asc ? '>=' : '<='} $${params.length}`);
      }
      if (query.jobs && query.jobs.length > 0) {
        params.push(query.jobs);
        where.push(`job = ANY($${params.length}::text[])`);
      }
      if (query.nodes && query.nodes.length > 0) {
        params.push(query.nodes);
        where.push(`node = ANY($${params.length}::text[])`);
      }
      params.push(READ_CHUNK);
      const result = await this.pool.query<{
        job: string;
        node: string;
        line_id: string;
        line: string;
        worker: string | null;
      }>(
        `SELECT job, node, line_id::text AS line_id, line, worker FROM task_logs WHERE ${where.join(' AND ')}
         ORDER BY line_id ${asc ? 'ASC' : 'DESC'} LIMIT $${params.length}`,
        params,
      );
      for (const row of result.rows) {
        if (query.filter && !query.filter.test(row.line)) continue;
        if (lines.length === pageSize) return { lines, next_line_id: row.line_id };
        const id = BigInt(row.line_id);
        const time = Number(id >> 32n);
        lines.push(
          row.worker === null
            ? [row.job, row.node, time, row.line, row.line_id]
            : [row.job, row.node, time, row.line, row.line_id, row.worker],
        );
      }
      if (result.rows.length < READ_CHUNK) return { lines, next_line_id: '-1' };
      const last = BigInt(result.rows.at(-1)!.line_id);
      start = asc ? last + 1n : last - 1n;
      if (query.deadline !== undefined && performance.now() > query.deadline)
        return { lines, next_line_id: start.toString() };
    }
  }

  /** Deletes rows older than `retentionSec`; returns how many. */
  async prune(retentionSec: number, nowMs = Date.now()): Promise<number> {
    const cutoff = BigInt(Math.floor(nowMs / 1000 - retentionSec)) << 32n;
    try {
      const result = await this.pool.query('DELETE FROM task_logs WHERE line_id < $1', [cutoff.toString()]);
      return result.rowCount ?? 0;
    } catch (error) {
      this.health.failed('task_logs', error);
      return 0;
    }
  }

  async close(): Promise<void> {
    await this.write();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private flushLater(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, delayMs);
    this.timer.unref();
  }

  /** Writes the lines buffered now; lines that arrive meanwhile wait for the next flush (fewer, larger writes). */
  private async writeBatches(): Promise<void> {
    let remaining = this.buffer.length;
    while (remaining > 0 && this.buffer.length > 0) {
      const batch = this.buffer.slice(0, Math.min(ROWS_PER_TRANSACTION, remaining));
      remaining -= batch.length;
      try {
        await this.insert(batch);
      } catch (error) {
        this.health.failed('task_logs', error);
        if (!isConnectionError(error)) {
          // A refused batch (never a connection problem) would be refused again: drop it, counted.
          this.take(batch.length);
          this.health.droppedLogLines += batch.length;
        }
        this.flushLater(STORE_RETRY_MS);
        return;
      }
      this.take(batch.length);
      this.health.succeeded('task_logs');
    }
  }

  private take(count: number): void {
    for (let i = 0; i < count; i++) if (this.buffer[i]!.table !== 'statuses') this.outputCount--;
    this.buffer.splice(0, count);
  }

  /** One statement: the function locks the clock row, issues the ids in order and inserts. */
  private async insert(batch: readonly BufferedLine[]): Promise<void> {
    await this.pool.query(
      prepared('bistro_append_task_logs', 'SELECT bistro_append_task_logs($1, $2, $3, $4, $5, $6)', [
        batch.map((r) => r.table),
        batch.map((r) => r.job),
        batch.map((r) => r.node),
        batch.map((r) => r.line),
        batch.map((r) => Math.floor(r.timeMs / 1000)),
        this.worker ?? null,
      ]),
    );
  }

  private dropOldestOutput(): void {
    // Drop a tenth at once: a full buffer under a flood must not cost O(n) per line.
    const target = Math.floor(MAX_BUFFERED_OUTPUT * 0.9);
    let toDrop = this.outputCount - target;
    const kept: BufferedLine[] = [];
    // Never the head batch while it is being written: it leaves the buffer when that write ends.
    const protectedCount = this.writing ? Math.min(ROWS_PER_TRANSACTION, this.buffer.length) : 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const row = this.buffer[i]!;
      if (i >= protectedCount && toDrop > 0 && row.table !== 'statuses') {
        toDrop--;
        this.outputCount--;
        this.health.droppedLogLines++;
        continue;
      }
      kept.push(row);
    }
    this.buffer = kept;
  }

  private dropOldestEvent(): void {
    const protectedCount = this.writing ? Math.min(ROWS_PER_TRANSACTION, this.buffer.length) : 0;
    const index = this.buffer.findIndex((row, i) => i >= protectedCount && row.table === 'statuses');
    if (index < 0) return;
    this.buffer.splice(index, 1);
    this.health.droppedEvents++;
  }
}
