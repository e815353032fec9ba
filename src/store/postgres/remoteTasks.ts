/**
 * The queries of remote dispatch (DISTRIBUTED §5): a worker claims the rows
 * dispatched to its incarnation; the leader learns which of its dispatched
 * tasks completed (their rows are gone) and reads the statuses the workers
 * stored for them; everyone reads the worker registry.
 */
import type { RunningTask } from '../../statuses/runningTask.js';
import type { TaskStatus } from '../../statuses/taskStatus.js';
import { statusFromRow, type StatusRow } from '../statusStore.js';
import { prepared, type PgPool } from './connection.js';
import { RUNNING_TASK_COLUMNS, runningTaskFromRow, type RunningTaskColumns } from './pgStatusStore.js';

/** A row a worker claimed: the task, what the leader sent to run it, and when it was dispatched. */
export interface ClaimedTask {
  readonly task: RunningTask;
  readonly spec: unknown;
  readonly killRequest: unknown;
  /** Epoch ms, on the database's clock. */
  readonly dispatchedAtMs: number;
}

type ClaimedRow = RunningTaskColumns & { spec: unknown; kill_request: unknown; dispatched_ms: number };

const CLAIMED_COLUMNS = `${RUNNING_TASK_COLUMNS}, spec, kill_request,
  extract(epoch FROM dispatched_at)::float8 * 1000 AS dispatched_ms`;

/** Moves this incarnation's `dispatched` rows to `running` and returns them, oldest first. */
export async function claimDispatched(
  pool: PgPool,
  incarnation: string,
  limit: number,
): Promise<ClaimedTask[]> {
  const result = await pool.query<ClaimedRow>(
    prepared(
      'bistro_claim',
      `UPDATE running_tasks SET state = 'running'
     WHERE invocation_id IN (
       SELECT invocation_id FROM running_tasks WHERE incarnation = $1 AND state = 'dispatched'
       ORDER BY dispatched_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING ${CLAIMED_COLUMNS}`,
      [incarnation, limit],
    ),
  );
  return claimedTasks(result.rows);
}

/**
 * Claims the rows a dispatch notice named, by key: those still
 * `dispatched` to this incarnation (any other id claims nothing). Unlike a
 * look through the incarnation's rows, it never visits the rows the worker
 * completed since the table's last vacuum.
 */
export async function claimDispatchedIds(
  pool: PgPool,
  incarnation: string,
  invocationIds: readonly string[],
): Promise<ClaimedTask[]> {
  const result = await pool.query<ClaimedRow>(
    prepared(
      'bistro_claim_ids',
      `UPDATE running_tasks SET state = 'running'
     WHERE invocation_id = ANY($2::text[]) AND incarnation = $1 AND state = 'dispatched'
     RETURNING ${CLAIMED_COLUMNS}`,
      [incarnation, invocationIds],
    ),
  );
  return claimedTasks(result.rows);
}

function claimedTasks(rows: readonly ClaimedRow[]): ClaimedTask[] {
  return rows
    .map((row) => ({
      task: runningTaskFromRow(row),
      spec: row.spec,
      killRequest: row.kill_request,
      dispatchedAtMs: row.dispatched_ms,
    }))
    .sort((a, b) => a.dispatchedAtMs - b.dispatchedAtMs);
}

/**
 * Of these running tasks, the ones whose row is gone (completed, or declared
 * lost), with the status stored for their (job, node): one round trip.
 */
export async function completedTasks(
  pool: PgPool,
  tasks: readonly RunningTask[],
): Promise<{ invocationId: string; status: TaskStatus }[]> {
  const result = await pool.query<StatusRow & { invocation_id: string }>(
    prepared(
      'bistro_completed',
      `SELECT k.id AS invocation_id, s.job, s.node, s.bits, s.time, s.backoff_sec, s.progress_sec, s.data
     FROM unnest($1::text[], $2::text[], $3::text[]) AS k(id, job, node)
     JOIN statuses s ON s.job = k.job AND s.node = k.node
     WHERE NOT EXISTS (SELECT 1 FROM running_tasks r WHERE r.invocation_id = k.id)`,
      [tasks.map((t) => t.invocationId), tasks.map((t) => t.job), tasks.map((t) => t.node)],
    ),
  );
  return result.rows.map((row) => ({ invocationId: row.invocation_id, status: statusFromRow(row) }));
}

/** A completion a worker's notification carried: the status as committed. */
export interface CompletionNotice {
  readonly invocationId: string;
  readonly job: string;
  readonly node: string;
  /** The task's completion token, as its worker had it (null: none). */
  readonly token: string | null;
  readonly status: TaskStatus;
}

/**
 * The completions a worker's notification carries (see writeCompletions):
 * a JSON array of `[invocation id, job, node, completion token, bits,
 * time, backoff_sec, progress_sec, data]`; undefined for anything else (an
 * empty payload only says "look").
 */
export function completionNotices(payload: string): CompletionNotice[] | undefined {
  if (!payload.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const notices: CompletionNotice[] = [];
  for (const fields of parsed) {
    const notice = completionNotice(fields);
    if (!notice) return undefined;
    notices.push(notice);
  }
  return notices;
}

function completionNotice(fields: unknown): CompletionNotice | undefined {
  if (!Array.isArray(fields) || fields.length !== 9) return undefined;
  const [invocationId, job, node, token, bits, time, backoffSec, progressSec, data] = fields as unknown[];
  if (
    typeof invocationId !== 'string' ||
    typeof job !== 'string' ||
    typeof node !== 'string' ||
    (token !== null && typeof token !== 'string') ||
    !Number.isInteger(bits) ||
    typeof time !== 'number' ||
    !Number.isInteger(backoffSec) ||
    !Number.isInteger(progressSec) ||
    (data !== null && typeof data !== 'string')
  )
    return undefined;
  try {
    const status = statusFromRow({
      job,
      node,
      bits: bits as number,
      time,
      backoff_sec: backoffSec as number,
      progress_sec: progressSec as number,
      data,
    });
    return { invocationId, job, node, token, status };
  } catch {
    return undefined; // data that is not JSON: the query reads it as stored
  }
}

/** One incarnation in the worker registry. */
export interface WorkerRow {
  readonly incarnation: string;
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly state: 'healthy' | 'lost' | 'stopped';
  readonly startedAtMs: number;
  /** Since its last renewal, by the database's clock (ms). */
  readonly leaseAgeMs: number;
  readonly leaseMs: number;
  readonly resources: { readonly cpu_cores?: number; readonly ram_mb?: number };
  readonly runningTasks: number;
}

/** The registry: every healthy incarnation, and the latest others per name (newest first). */
export async function workerRows(pool: PgPool, limit = 1000): Promise<WorkerRow[]> {
  const result = await pool.query<{
    incarnation: string;
    name: string;
    host: string;
    pid: number;
    version: string;
    state: WorkerRow['state'];
    started_ms: number;
    lease_age_ms: number | null;
    lease_ms: number;
    resources: WorkerRow['resources'];
    running: number;
  }>(
    `SELECT w.incarnation, w.name, w.host, w.pid, w.version, w.state,
       extract(epoch FROM w.started_at)::float8 * 1000 AS started_ms,
       extract(epoch FROM now() - (w.lease_until - w.lease_ms * interval '1 millisecond'))::float8 * 1000 AS lease_age_ms,
       w.lease_ms, w.resources,
       (SELECT count(*)::int FROM running_tasks r WHERE r.incarnation = w.incarnation) AS running
     FROM workers w
     WHERE w.state = 'healthy' OR w.started_at > now() - interval '1 day'
     ORDER BY w.state = 'healthy' DESC, w.name, w.started_at DESC
     LIMIT $1`,
    [limit],
  );
  return result.rows.map((row) => ({
    incarnation: row.incarnation,
    name: row.name,
    host: row.host,
    pid: row.pid,
    version: row.version,
    state: row.state,
    startedAtMs: row.started_ms,
    leaseAgeMs: Math.max(0, row.lease_age_ms ?? 0),
    leaseMs: row.lease_ms,
    resources: row.resources ?? {},
    runningTasks: row.running,
  }));
}

/** This incarnation's claimed rows with a kill request (an unclaimed row keeps its request for the claim). */
export async function killRequestedRows(
  pool: PgPool,
  incarnation: string,
): Promise<{ invocationId: string; killRequest: unknown }[]> {
  const result = await pool.query<{ invocation_id: string; kill_request: unknown }>(
    `SELECT invocation_id, kill_request FROM running_tasks WHERE incarnation = $1 AND state = 'kill_requested'`,
    [incarnation],
  );
  return result.rows.map((row) => ({ invocationId: row.invocation_id, killRequest: row.kill_request }));
}

/** Incarnations by state. */
export async function workerCounts(pool: PgPool): Promise<Map<string, number>> {
  const result = await pool.query<{ state: string; count: number }>(
    'SELECT state, count(*)::int AS count FROM workers GROUP BY state',
  );
  return new Map(result.rows.map((row) => [row.state, row.count]));
}
