/**
 * Statuses and running-task rows in PostgreSQL.
 *
 * Every write goes through one ordered queue, so the database sees changes
 * in the order the scheduler made them; consecutive writes of one kind are
 * batched into one transaction. Three kinds:
 * - dispatch (leader): the `running_tasks` rows of tasks about to start,
 *   fenced by the leader's term. A task starts only once its row committed.
 * - completion (the worker that ran the task): one statement keyed by
 *   invocation id deletes the row and writes the final status; a status
 *   whose row is gone (its worker was declared lost) changes nothing and is
 *   reported as late.
 * - statuses (leader): forgiveness, recovery; fenced. A batch refused by
 *   the fence is dropped: whoever leads now owns the statuses.
 *
 * While the database cannot be reached, writes stay queued (statuses are
 * never dropped) and are retried every second, in order.
 */
import { randomBytes } from 'node:crypto';
import type { RunningTask } from '../../statuses/runningTask.js';
import { StatusBits as B, type TaskStatus } from '../../statuses/taskStatus.js';
import type { TaskStatuses } from '../../statuses/taskStatuses.js';
import { statusFromRow, type StatusRow } from '../statusStore.js';
import { STORE_RETRY_MS, type StoreHealth } from '../storeHealth.js';
import { inTransaction, isConnectionError, prepared, type PgPool } from './connection.js';
import type pg from 'pg';

/** The leader's term fence failed: another scheduler leads now. */
export class FencedOutError extends Error {
  constructor(readonly term: number) {
    super(`leader term ${term} is over: another scheduler leads`);
    this.name = 'FencedOutError';
  }
}

/** Locks the term row for the transaction, or throws FencedOutError (DISTRIBUTED: fencing). */
export async function fence(client: pg.ClientBase, term: number): Promise<void> {
  const row = await client.query('SELECT 1 FROM leader_term WHERE id = 1 AND term = $1 FOR SHARE', [term]);
  if (row.rowCount === 0) throw new FencedOutError(term);
}

export interface Dispatch {
  readonly task: RunningTask;
  readonly incarnation: string;
  /** For a remote worker: what it needs to run the task (the row starts `dispatched`, for it to claim). */
  readonly spec?: unknown;
}

/** A dispatch notice lists its rows' ids up to this size (PostgreSQL's payload limit is 8000 bytes). */
const DISPATCH_NOTICE_MAX_IDS_BYTES = 7000;

/**
 * How long a completion waits for others to share its statement when no
 * write is under way (while one is, the next ones gather behind it
 * anyway). A worker's statement is also the leader's notice, and each
 * notice sets off a pass, a dispatch and claims: with 5 ms, four workers
 * sharing 500 tasks/s wrote one per 3 tasks. Four workers on two cores
 * ran fastest between 30 and 55 ms (20 and 80 were 8-10 % slower; see
 * BENCHMARKS.md). Only a task shorter than the wait would notice it. A
 * scheduler's own completions do not wait: the status change queued with
 * each one starts the write.
 */
const COMPLETION_BATCH_MS = 40;

/**
 * Notification channels: dispatches for a worker on the channel its
 * process registered (`workers.channel`; the shared DISPATCH_CHANNEL for a
 * worker row without one), completions for the leader. A dispatch's
 * payload is `<incarnation>:<invocation id>,...` (the rows it inserted for
 * that incarnation, which the worker claims by key), or the incarnation
 * alone when the list would be too long (the worker claims whatever waits);
 * a kill request's is `kill:<incarnation>`. A channel per worker: with one
 * shared channel every dispatch woke every worker of the fleet (and its
 * database connection).
 */
export const DISPATCH_CHANNEL = 'bistro_dispatch';
export const COMPLETION_CHANNEL = 'bistro_completion';
/**
 * A completion statement's one notification carries the statuses it
 * committed with each task's completion token (under PostgreSQL's
 * 8000-byte payload limit), so the leader needs no query to learn them; a
 * larger one says only "look".
 */
const COMPLETION_NOTICE_MAX_BYTES = 7900;

/** A fresh channel for one worker process (an identifier: lower-case letters, digits, `_`). */
export function workerDispatchChannel(): string {
  return `${DISPATCH_CHANNEL}_${randomBytes(8).toString('hex')}`;
}

/** The channel of the worker of a `workers` row `w`, in SQL. */
const WORKER_CHANNEL_SQL = `coalesce(w.channel, '${DISPATCH_CHANNEL}')`;

export interface Completion {
  readonly task: RunningTask;
  readonly status: TaskStatus;
  /** Called once the completion committed (applied or late). */
  readonly written?: () => void;
}

type Op =
  | { kind: 'dispatch'; term: number; items: Dispatch[]; settles: ((error: Error | undefined) => void)[] }
  | { kind: 'complete'; items: Completion[] }
  | { kind: 'statuses'; term: number | undefined; items: Map<string, StatusRowInput> }
  | { kind: 'kill'; term: number; invocationId: string; request: unknown; settle: (e?: Error) => void };

interface StatusRowInput {
  job: string;
  node: string;
  status: TaskStatus;
}

export interface PgStatusStoreEvents {
  /** A completion found no row: the task's worker had been declared lost. */
  onLateStatus?(completion: Completion): void;
  /** A fenced write was refused. */
  onFencedOut?(term: number): void;
}

/** A running-task row: the task and the worker incarnation that runs it. */
export interface RunningRow {
  readonly task: RunningTask;
  readonly incarnation: string;
}

export class PgStatusStore {
  private readonly queue: Op[] = [];
  private running = false;
  /** The head of the queue is being written: nothing may join it. */
  private writingHead = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly pool: PgPool,
    private readonly health: StoreHealth,
    private readonly term: () => number | undefined,
    /** Who hears of late statuses and fenced-out writes (set once wired). */
    public events: PgStatusStoreEvents = {},
  ) {}

  /** Queues a status change (RUNNING is kept by running_tasks rows, not here). */
  queueStatus(job: string, node: string, status: TaskStatus): void {
    if (status.bits & B.RUNNING) return;
    const last = this.openTail();
    const key = `${job}\u0000${node}`;
    if (last?.kind === 'statuses' && last.term === this.term()) last.items.set(key, { job, node, status });
    else this.push({ kind: 'statuses', term: this.term(), items: new Map([[key, { job, node, status }]]) });
  }

  /**
   * Inserts the row of a task about to start (fenced); resolves once
   * committed. Dispatches queued together commit in one transaction.
   */
  dispatch(item: Dispatch, term: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error: Error | undefined) => (error ? reject(error) : resolve());
      const last = this.openTail();
      if (last?.kind === 'dispatch' && last.term === term) {
        last.items.push(item);
        last.settles.push(settle);
      } else this.push({ kind: 'dispatch', term, items: [item], settles: [settle] });
    });
  }

  /** A task is complete: deletes its row and writes its final status, keyed by invocation. */
  complete(task: RunningTask, status: TaskStatus, written?: () => void): void {
    // Its status queued by the in-memory change is the same one: the completion writes it.
    const key = `${task.job}\u0000${task.node}`;
    const first = this.writingHead ? 1 : 0;
    for (let i = this.queue.length - 1; i >= first; i--) {
      const op = this.queue[i]!;
      if (op.kind !== 'statuses' || op.items.get(key)?.status !== status) continue;
      op.items.delete(key);
      // An emptied batch must not sit between two completions: they batch together.
      if (op.items.size === 0) this.queue.splice(i, 1);
      break;
    }
    const last = this.openTail();
    const completion: Completion = { task, status, ...(written ? { written } : {}) };
    if (last?.kind === 'complete') last.items.push(completion);
    else this.push({ kind: 'complete', items: [completion] });
  }

  /** Records a kill request on a task another worker runs (fenced); that worker applies it. */
  requestKill(invocationId: string, request: unknown, term: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.push({
        kind: 'kill',
        term,
        invocationId,
        request,
        settle: (error) => (error ? reject(error) : resolve()),
      });
    });
  }

  /** Writes queued so far; resolves when the queue is empty (or rejects after `timeoutMs`). */
  drain(timeoutMs = 10_000): Promise<boolean> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  get writable(): boolean {
    return !this.health.isFailing('statuses');
  }

  /** Every stored status and running row into `statuses` (at takeover, and on a standby's refresh). */
  async loadStatuses(statuses: TaskStatuses): Promise<{ statuses: number; running: RunningRow[] }> {
    const client = await this.pool.connect();
    try {
      // One snapshot for both tables: a completion between the reads cannot make a task vanish.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rows = await client.query<StatusRow>(
        'SELECT job, node, bits, time, backoff_sec, progress_sec, data FROM statuses',
      );
      const running = await this.runningRows(client);
      await client.query('COMMIT');
      statuses.clear();
      for (const row of rows.rows) statuses.load(row.job, row.node, statusFromRow(row));
      for (const row of running) statuses.adoptRunning(row.task);
      return { statuses: rows.rows.length, running };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async runningRows(client: pg.ClientBase): Promise<RunningRow[]> {
    const result = await client.query<RunningTaskColumns & { incarnation: string }>(
      `SELECT ${RUNNING_TASK_COLUMNS}, incarnation FROM running_tasks ORDER BY start_time`,
    );
    return result.rows.map((row) => ({ task: runningTaskFromRow(row), incarnation: row.incarnation }));
  }

  async close(timeoutMs = 10_000): Promise<boolean> {
    const drained = await this.drain(timeoutMs);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    return drained;
  }

  /** The last queued write, if it is not being written already (then it can still take more). */
  private openTail(): Op | undefined {
    if (this.queue.length === 0 || (this.writingHead && this.queue.length === 1)) return undefined;
    return this.queue.at(-1);
  }

  private push(op: Op): void {
    this.queue.push(op);
    this.kick();
  }

  private kick(): void {
    if (this.running || this.retryTimer || this.closed) return;
    this.running = true;
    // Completions wait a moment for company (one statement for several); starts and kills do not wait.
    if (this.queue[0]?.kind === 'complete') setTimeout(() => void this.runQueue(), COMPLETION_BATCH_MS);
    else setImmediate(() => void this.runQueue());
  }

  private async runQueue(): Promise<void> {
    while (this.queue.length > 0) {
      const op = this.queue[0]!;
      this.writingHead = true;
      try {
        await this.execute(op);
      } catch (error) {
        if (isConnectionError(error)) {
          this.health.failed('statuses', error);
          if (op.kind === 'dispatch' || op.kind === 'kill') {
            // A start or kill is a decision of this moment: the next pass decides again.
            this.queue.shift();
            settle(op, error as Error);
          }
          this.running = false;
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.kick();
          }, STORE_RETRY_MS);
          this.retryTimer.unref();
          return;
        }
        this.queue.shift();
        if (error instanceof FencedOutError) this.events.onFencedOut?.(error.term);
        if (op.kind === 'dispatch' || op.kind === 'kill') settle(op, error as Error);
        else if (!(error instanceof FencedOutError)) this.health.failed('statuses', error);
        continue;
      } finally {
        this.writingHead = false;
      }
      this.queue.shift();
      this.health.succeeded('statuses');
      if (op.kind === 'dispatch' || op.kind === 'kill') settle(op, undefined);
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private async execute(op: Op): Promise<void> {
    switch (op.kind) {
      case 'dispatch':
        return this.writeDispatch(op.items, op.term);
      case 'complete':
        return this.writeCompletions(op.items);
      case 'statuses':
        return this.writeStatuses([...op.items.values()], op.term);
      case 'kill':
        return inTransaction(this.pool, async (client) => {
          await fence(client, op.term);
          await client.query(
            `UPDATE running_tasks SET kill_request = $2,
               state = CASE WHEN state = 'dispatched' THEN 'dispatched' ELSE 'kill_requested' END
             WHERE invocation_id = $1`,
            [op.invocationId, JSON.stringify(op.request)],
          );
          // Its worker looks at once instead of at its next renewal.
          await client.query(
            `SELECT pg_notify(${WORKER_CHANNEL_SQL}, 'kill:' || r.incarnation)
             FROM running_tasks r LEFT JOIN workers w ON w.incarnation = r.incarnation
             WHERE r.invocation_id = $1`,
            [op.invocationId],
          );
        });
    }
  }

  /**
   * One statement, so one round trip: its first step locks the term row
   * (the fence), and no row is inserted unless that found the term.
   */
  private async writeDispatch(items: Dispatch[], term: number): Promise<void> {
    // Notifications are sent at commit; identical ones of one transaction are folded into one.
    const result = await this.pool.query<{ inserted: number }>(
      prepared(
        'bistro_dispatch',
        `WITH fence AS (SELECT 1 FROM leader_term WHERE id = 1 AND term = $1 FOR SHARE),
       ins AS (
         INSERT INTO running_tasks (invocation_id, job, node, incarnation, term, state, start_time, charges, backoff, worker_shard, spec)
         SELECT v.id, v.job, v.node, v.incarnation, $1, CASE WHEN v.spec IS NULL THEN 'running' ELSE 'dispatched' END,
           v.start_time, v.charges::jsonb, v.backoff::jsonb, v.shard, v.spec::jsonb
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[])
           AS v(id, job, node, incarnation, start_time, charges, backoff, shard, spec)
         WHERE EXISTS (SELECT 1 FROM fence)
         RETURNING invocation_id, incarnation, spec IS NOT NULL AS remote
       )
       SELECT (SELECT count(*)::int FROM ins) AS inserted,
         (SELECT count(*) FROM (SELECT pg_notify(${WORKER_CHANNEL_SQL},
              i.incarnation || CASE WHEN octet_length(i.ids) <= ${DISPATCH_NOTICE_MAX_IDS_BYTES} THEN ':' || i.ids ELSE '' END)
            FROM (SELECT incarnation, string_agg(invocation_id, ',') AS ids FROM ins WHERE remote GROUP BY incarnation) i
            LEFT JOIN workers w ON w.incarnation = i.incarnation) n) AS notified`,
        [
          term,
          items.map((d) => d.task.invocationId),
          items.map((d) => d.task.job),
          items.map((d) => d.task.node),
          items.map((d) => d.incarnation),
          items.map((d) => d.task.startTime),
          items.map((d) => JSON.stringify(d.task.charges)),
          items.map((d) => JSON.stringify(d.task.backoff)),
          items.map((d) => d.task.workerShard),
          items.map((d) => (d.spec === undefined ? null : JSON.stringify(d.spec))),
        ],
      ),
    );
    if (result.rows[0]?.inserted !== items.length) throw new FencedOutError(term);
  }

  /** One statement (atomic on its own): delete the rows, upsert the statuses of the rows deleted. */
  private async writeCompletions(items: Completion[]): Promise<void> {
    const result = await this.pool.query<{ invocation_id: string }>(
      prepared(
        'bistro_complete',
        `WITH d AS (
           DELETE FROM running_tasks r USING unnest($1::text[]) AS v(id)
           WHERE r.invocation_id = v.id RETURNING r.invocation_id
         ), s AS (
           SELECT v.* FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::int[], $7::int[], $8::text[], $9::text[])
             AS v(id, job, node, bits, time, backoff_sec, progress_sec, data, token)
           JOIN d ON d.invocation_id = v.id
         ), w AS (
           INSERT INTO statuses (job, node, bits, time, backoff_sec, progress_sec, data)
           SELECT job, node, bits, time, backoff_sec, progress_sec, data FROM s
           ON CONFLICT (job, node) DO UPDATE SET bits = excluded.bits, time = excluded.time,
             backoff_sec = excluded.backoff_sec, progress_sec = excluded.progress_sec, data = excluded.data
         ), n AS (
           SELECT pg_notify('${COMPLETION_CHANNEL}',
             CASE WHEN octet_length(notice) <= ${COMPLETION_NOTICE_MAX_BYTES} THEN notice ELSE '' END)
           FROM (SELECT json_agg(json_build_array(id, job, node, token, bits, time, backoff_sec, progress_sec, data))::text AS notice
                 FROM s) a
           WHERE notice IS NOT NULL
         )
         SELECT s.id AS invocation_id, (SELECT count(*) FROM n) AS notified FROM s`,
        [
          items.map((c) => c.task.invocationId),
          items.map((c) => c.task.job),
          items.map((c) => c.task.node),
          items.map((c) => c.status.bits),
          items.map((c) => c.status.time),
          items.map((c) => c.status.backoffSec),
          items.map((c) => c.status.progressSec),
          items.map((c) => (c.status.data === undefined ? null : JSON.stringify(c.status.data))),
          items.map((c) => c.task.completionToken ?? null),
        ],
      ),
    );
    const applied = new Set(result.rows.map((row) => row.invocation_id));
    for (const item of items) {
      if (!applied.has(item.task.invocationId)) this.events.onLateStatus?.(item);
      item.written?.();
    }
  }

  private async writeStatuses(items: StatusRowInput[], term: number | undefined): Promise<void> {
    if (items.length === 0) return;
    if (term === undefined) return; // not the leader when queued: the leader owns statuses
    await inTransaction(this.pool, async (client) => {
      await fence(client, term);
      await upsertStatuses(client, items);
    });
  }
}

function settle(op: Extract<Op, { kind: 'dispatch' | 'kill' }>, error: Error | undefined): void {
  if (op.kind === 'kill') op.settle(error);
  else for (const each of op.settles) each(error);
}

/** The columns of a `running_tasks` row that make its RunningTask. */
export const RUNNING_TASK_COLUMNS = 'invocation_id, job, node, start_time, charges, backoff, worker_shard';

export interface RunningTaskColumns {
  invocation_id: string;
  job: string;
  node: string;
  start_time: number;
  charges: RunningTask['charges'];
  backoff: RunningTask['backoff'];
  worker_shard: string;
}

export function runningTaskFromRow(row: RunningTaskColumns): RunningTask {
  return {
    job: row.job,
    node: row.node,
    invocationId: row.invocation_id,
    startTime: row.start_time,
    charges: row.charges,
    backoff: row.backoff,
    workerShard: row.worker_shard,
  };
}

export async function upsertStatuses(client: pg.ClientBase, items: readonly StatusRowInput[]): Promise<void> {
  await client.query(
    `INSERT INTO statuses (job, node, bits, time, backoff_sec, progress_sec, data)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[], $5::int[], $6::int[], $7::text[])
     ON CONFLICT (job, node) DO UPDATE SET bits = excluded.bits, time = excluded.time,
       backoff_sec = excluded.backoff_sec, progress_sec = excluded.progress_sec, data = excluded.data`,
    [
      items.map((i) => i.job),
      items.map((i) => i.node),
      items.map((i) => i.status.bits),
      items.map((i) => i.status.time),
      items.map((i) => i.status.backoffSec),
      items.map((i) => i.status.progressSec),
      items.map((i) => (i.status.data === undefined ? null : JSON.stringify(i.status.data))),
    ],
  );
}
