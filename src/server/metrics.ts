/**
 * Prometheus metrics at `GET /metrics`: tasks by status per job,
 * starts, kills by method and reason, kill latency, unkillable tasks, pass
 * duration, and log lines that had to wait for their quota.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { statusLabel } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';

export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly starts = new Counter({
    name: 'bistro_task_starts_total',
    help: 'Tasks started',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly kills = new Counter({
    name: 'bistro_task_kills_total',
    help: 'Kill requests sent to tasks',
    labelNames: ['method', 'reason'],
    registers: [this.registry],
  });
  readonly killLatency = new Histogram({
    name: 'bistro_task_kill_latency_seconds',
    help: 'From a kill request to the task being complete',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60],
    registers: [this.registry],
  });
  readonly passDuration = new Histogram({
    name: 'bistro_scheduling_pass_seconds',
    help: 'Duration of a scheduling pass (decisions only)',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly killRequested = new Map<string, number>();

  constructor(statuses: TaskStatuses, unkillable: () => number, logBackpressure: () => number) {
    new Gauge({
      name: 'bistro_tasks',
      help: 'Tasks by job and status',
      labelNames: ['job', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const job of statuses.jobs()) {
          const table = statuses.table(job)!;
          const counts = new Map<string, number>();
          for (const id of table.ids()) {
            const label = statusLabel(table.bits[id]!);
            counts.set(label, (counts.get(label) ?? 0) + 1);
          }
          for (const [status, count] of counts) this.set({ job, status }, count);
        }
      },
    });
    new Gauge({
      name: 'bistro_unkillable_tasks',
      help: 'Tasks whose processes survived SIGKILL',
      registers: [this.registry],
      collect() {
        this.set(unkillable());
      },
    });
    new Gauge({
      name: 'bistro_log_backpressure_events',
      help: 'Times a task had its pipes paused for exceeding its log quota',
      registers: [this.registry],
      collect() {
        this.set(logBackpressure());
      },
    });
  }

  taskStarted(job: string): void {
    this.starts.inc({ job });
  }

  killSent(invocationId: string, method: string, reason: string): void {
    this.kills.inc({ method, reason });
    if (!this.killRequested.has(invocationId)) this.killRequested.set(invocationId, performance.now());
  }

  taskCompleted(invocationId: string): void {
    const requested = this.killRequested.get(invocationId);
    if (requested === undefined) return;
    this.killRequested.delete(invocationId);
    this.killLatency.observe((performance.now() - requested) / 1000);
  }
}
