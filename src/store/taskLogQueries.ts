/**
 * Reading task logs for the `task_logs` handler, with the original's cursor
 * bug fixed: the filter is applied while reading, so a page is full whenever
 * enough matching lines exist, and `next_line_id` is where the next page
 * starts ("-1" when nothing is left). Paging with the same sort and
 * `line_id = next_line_id` returns every matching line exactly once.
 *
 * A query that reads past its time budget stops there and answers with what
 * it has and a cursor at the first line it did not examine, so a filter that
 * matches nothing in a large log never holds the scheduler's thread.
 */
import type { SqliteDatabase } from './database.js';
import type { LogTable } from './taskLogStore.js';

export const DEFAULT_PAGE_SIZE = 1000;

export interface LogQuery {
  readonly table: LogTable;
  readonly jobs?: readonly string[];
  readonly nodes?: readonly string[];
  readonly sort: 'asc' | 'desc';
  /** Start from this epoch second (inclusive). */
  readonly time?: number;
  /** Start from this line id (inclusive). */
  readonly lineId?: bigint;
  readonly filter?: { test(line: string): boolean };
  readonly pageSize?: number;
  /** Stop reading at this `performance.now()`; undefined = no limit. */
  readonly deadline?: number;
}

/** How many rows are read between two looks at the clock. */
const ROWS_PER_CLOCK_CHECK = 256;

/** A line; on PostgreSQL, lines a worker wrote also name the worker. */
export type LogLineRow =
  | [job: string, node: string, timeSec: number, line: string, lineId: string]
  | [job: string, node: string, timeSec: number, line: string, lineId: string, worker: string];

export interface LogPage {
  readonly lines: LogLineRow[];
  readonly next_line_id: string;
}

/** The line id a query starts at (inclusive): its `lineId`, else the first or last id of its `time`'s second. */
export function startLineId(query: LogQuery): bigint | undefined {
  if (query.lineId !== undefined || query.time === undefined) return query.lineId;
  const second = BigInt(Math.floor(query.time));
  return query.sort === 'asc' ? second << 32n : ((second + 1n) << 32n) - 1n;
}

export function queryTaskLogs(db: SqliteDatabase, query: LogQuery): LogPage {
  const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
  const asc = query.sort === 'asc';
  const where: string[] = [];
  const params: unknown[] = [];
  const start = startLineId(query);
  if (start !== undefined) {
    where.push(`time_and_count ${asc ? '>=' : '<='} ?`);
    params.push(start);
  }
  if (query.jobs && query.jobs.length > 0) {
    where.push(`job_id IN (${query.jobs.map(() => '?').join(', ')})`);
    params.push(...query.jobs);
  }
  if (query.nodes && query.nodes.length > 0) {
    where.push(`node_id IN (${query.nodes.map(() => '?').join(', ')})`);
    params.push(...query.nodes);
  }
  const sql = `SELECT job_id, node_id, time_and_count, line FROM ${query.table}
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY time_and_count ${asc ? 'ASC' : 'DESC'}`;
  const lines: LogLineRow[] = [];
  let next = '-1';
  const rows = db
    .prepare(sql)
    .safeIntegers(true)
    .iterate(...params) as IterableIterator<{
    job_id: string;
    node_id: string;
    time_and_count: bigint;
    line: string;
  }>;
  let read = 0;
  for (const row of rows) {
    if (
      query.deadline !== undefined &&
      ++read % ROWS_PER_CLOCK_CHECK === 0 &&
      performance.now() > query.deadline
    ) {
      next = row.time_and_count.toString();
      break;
    }
    if (query.filter && !query.filter.test(row.line)) continue;
    if (lines.length === pageSize) {
      next = row.time_and_count.toString();
      break;
    }
    lines.push([
      row.job_id,
      row.node_id,
      Number(row.time_and_count >> 32n),
      row.line,
      row.time_and_count.toString(),
    ]);
  }
  return { lines, next_line_id: next };
}
