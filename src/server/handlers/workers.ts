/**
 * `workers`: the worker registry of a shared database -- every healthy
 * incarnation and the recent others, with lease age, what each reported
 * (CPU cores, RAM), what is left of its worker resources (as the leader
 * last placed tasks), and the tasks it runs. Empty for an embedded
 * scheduler, whose only worker is itself.
 */
import type { Handler } from '../apiContext.js';

/** One worker in the `workers` answer. */
export interface WorkerAnswer {
  readonly name: string;
  readonly host: string;
  readonly incarnation: string;
  readonly state: string;
  readonly pid: number;
  readonly version: string;
  readonly started_at: number;
  readonly lease_age_sec: number;
  readonly lease_sec: number;
  readonly reported: Readonly<{ cpu_cores?: number; ram_mb?: number }>;
  readonly available: Readonly<Record<string, number>> | null;
  readonly running_tasks: number;
  readonly tasks: readonly { job: string; node: string; invocation_id: string }[];
}

export const workers: Handler<'workers'> = async (_args, context): Promise<WorkerAnswer[]> => {
  const rows = (await context.workers?.()) ?? [];
  const running = [...context.statuses.runningTasks()];
  const available = context.workersAvailable?.();
  return rows.map((row) => {
    const tasks = row.state === 'healthy' ? running.filter((task) => task.workerShard === row.name) : [];
    return {
      name: row.name,
      host: row.host,
      incarnation: row.incarnation,
      state: row.state,
      pid: row.pid,
      version: row.version,
      started_at: Math.floor(row.startedAtMs / 1000),
      lease_age_sec: Math.round(row.leaseAgeMs) / 1000,
      lease_sec: row.leaseMs / 1000,
      reported: row.resources,
      available: row.state === 'healthy' ? (available?.get(row.name) ?? null) : null,
      running_tasks: row.runningTasks,
      tasks: tasks.map((task) => ({ job: task.job, node: task.node, invocation_id: task.invocationId })),
    };
  });
};
