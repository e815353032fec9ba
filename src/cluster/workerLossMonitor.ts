/**
 * The leader declares workers lost (docs/distributed.md, "Worker leases"):
 * it watches each healthy incarnation's `lease_seq` on its own clock, and
 * one whose sequence has not changed for its ttl + grace is lost, in one
 * fenced transaction that marks it lost only if the sequence is still the
 * one seen, deletes its running-task rows, and writes `error_backoff`
 * ("worker lost") for exactly the rows it deleted. Its tasks may then run
 * again: by then the worker, or its watchdog, has killed them.
 *
 * The timers start afresh whenever this scheduler starts leading.
 */
import type { Logger } from '../logging/logger.js';
import { finalStatus } from '../statuses/backoff.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { StatusBits as B, type TaskStatus } from '../statuses/taskStatus.js';
import { inTransaction, type PgPool } from '../store/postgres/connection.js';
import {
  fence,
  RUNNING_TASK_COLUMNS,
  runningTaskFromRow,
  upsertStatuses,
  type RunningTaskColumns,
} from '../store/postgres/pgStatusStore.js';
import type { WorkerCandidate } from '../scheduler/workerPlacement.js';
import { boottimeMs, lossGraceMs } from './leaseTiming.js';

export const WORKER_LOST_MESSAGE = 'worker lost';

export interface LostTask {
  readonly task: RunningTask;
  readonly status: TaskStatus;
  readonly incarnation: string;
}

export class WorkerLossMonitor {
  private seen = new Map<string, { seq: string; since: number }>();
  private term: number | undefined;
  private fresh: WorkerCandidate[] = [];

  constructor(
    private readonly pool: PgPool,
    private readonly logger: Logger,
    /** Tasks of a lost worker, after the loss committed. */
    private readonly onLost: (tasks: readonly LostTask[]) => void,
    /**
     * A worker may take tasks that could not a look ago (it registered, or
     * this scheduler just started leading): its slots are empty now, not at
     * the next timed pass.
     */
    private readonly onJoined: () => void = () => undefined,
  ) {}

  /** One look at the workers table, while leading in `term`. */
  async check(term: number): Promise<void> {
    if (term !== this.term) {
      this.term = term;
      this.seen = new Map();
      this.fresh = [];
    }
    const now = boottimeMs();
    const workers = await this.pool.query<{
      incarnation: string;
      name: string;
      host: string;
      lease_seq: string;
      lease_ms: number;
      kill_bound_ms: number;
      resources: { cpu_cores?: number; ram_mb?: number } | null;
      takes_dispatch: boolean;
    }>(
      `SELECT incarnation, name, host, lease_seq::text, lease_ms, kill_bound_ms, resources, takes_dispatch
       FROM workers WHERE state = 'healthy' ORDER BY name, started_at`,
    );
    const present = new Set<string>();
    const fresh: WorkerCandidate[] = [];
    for (const worker of workers.rows) {
      present.add(worker.incarnation);
      const seen = this.seen.get(worker.incarnation);
      const candidate: WorkerCandidate = {
        name: worker.name,
        host: worker.host,
        incarnation: worker.incarnation,
        cpuCores: Number(worker.resources?.cpu_cores ?? 0),
        ramMb: Number(worker.resources?.ram_mb ?? 0),
      };
      if (!seen || seen.seq !== worker.lease_seq) {
        this.seen.set(worker.incarnation, { seq: worker.lease_seq, since: now });
        if (worker.takes_dispatch) fresh.push(candidate);
        continue;
      }
      // A `bistro worker` whose lease this leader saw renewed within its ttl may get tasks.
      if (worker.takes_dispatch && now - seen.since < worker.lease_ms) fresh.push(candidate);
      if (now - seen.since < worker.lease_ms + lossGraceMs(worker.kill_bound_ms)) continue;
      const lost = await this.declareLost(term, worker.incarnation, worker.lease_seq);
      if (lost === undefined) continue;
      this.logger.error(
        { worker: worker.name, incarnation: worker.incarnation, tasks: lost.length },
        'worker lost: its lease ran out; its tasks may run again',
      );
      this.onLost(lost);
    }
    for (const incarnation of this.seen.keys()) if (!present.has(incarnation)) this.seen.delete(incarnation);
    // Registration order within a name: a restarted worker's new incarnation replaces the old one.
    const before = new Set(this.fresh.map((worker) => worker.incarnation));
    this.fresh = [...new Map(fresh.map((worker) => [worker.name, worker])).values()];
    if (this.fresh.some((worker) => !before.has(worker.incarnation))) this.onJoined();
  }

  /**
   * Healthy workers whose lease this leader saw renewed within its ttl, by
   * name (one incarnation per name: the newest registered wins a tie).
   */
  healthyWorkers(): readonly WorkerCandidate[] {
    return this.fresh;
  }

  private async declareLost(term: number, incarnation: string, seq: string): Promise<LostTask[] | undefined> {
    return inTransaction(this.pool, async (client) => {
      await fence(client, term);
      const marked = await client.query(
        `UPDATE workers SET state = 'lost' WHERE incarnation = $1 AND state = 'healthy' AND lease_seq = $2`,
        [incarnation, seq],
      );
      if (marked.rowCount === 0) return undefined;
      const rows = await client.query<RunningTaskColumns>(
        `DELETE FROM running_tasks WHERE incarnation = $1 RETURNING ${RUNNING_TASK_COLUMNS}`,
        [incarnation],
      );
      const now = Date.now() / 1000;
      const lost = rows.rows.map((row) => {
        const task = runningTaskFromRow(row);
        const status = finalStatus(
          { bits: B.ERROR | B.USES_BACKOFF, data: { exception: WORKER_LOST_MESSAGE } },
          task.backoff,
          now,
        );
        return { task, status, incarnation };
      });
      if (lost.length > 0)
        await upsertStatuses(
          client,
          lost.map(({ task, status }) => ({ job: task.job, node: task.node, status })),
        );
      return lost;
    });
  }
}
