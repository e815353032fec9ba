/**
 * Prometheus metrics at `GET /metrics`: tasks by status per job, starts,
 * finishes by status, durations, kills by method and reason, kill latency,
 * unkillable tasks, pass duration, log lines that had to wait for their
 * quota, config reloads, build info and the process's own metrics.
 */
import { PACKAGE_VERSION } from '../logging/buildInfo.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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
  readonly finishes = new Counter({
    name: 'bistro_task_finishes_total',
    help: 'Tasks that completed, by job and final status',
    labelNames: ['job', 'status'],
    registers: [this.registry],
  });
  readonly taskDuration = new Histogram({
    name: 'bistro_task_duration_seconds',
    help: 'From launch to completion',
    labelNames: ['job'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 14400],
    registers: [this.registry],
  });
  readonly configReloads = new Counter({
    name: 'bistro_config_reloads_total',
    help: 'Config file loads, by result (success keeps the new config, failure keeps the last good one)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly configLastSuccess = new Gauge({
    name: 'bistro_config_last_reload_success_timestamp_seconds',
    help: 'When a config was last loaded successfully',
    registers: [this.registry],
  });
  private readonly killRequested = new Map<string, number>();

  constructor(statuses: TaskStatuses, unkillable: () => number, logBackpressure: () => number) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'bistro_build_info',
      help: 'The running build: version and Node.js version (always 1)',
      labelNames: ['version', 'node'],
      registers: [this.registry],
    }).set({ version: PACKAGE_VERSION, node: process.version }, 1);
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

  configLoaded(success: boolean): void {
    this.configReloads.inc({ result: success ? 'success' : 'failure' });
    if (success) this.configLastSuccess.set(Date.now() / 1000);
  }

  taskStarted(job: string): void {
    this.starts.inc({ job });
  }

  killSent(invocationId: string, method: string, reason: string): void {
    this.kills.inc({ method, reason });
    if (!this.killRequested.has(invocationId)) this.killRequested.set(invocationId, performance.now());
  }

  taskCompleted(finished: { invocationId: string; job: string; status: string; durationSec: number }): void {
    this.finishes.inc({ job: finished.job, status: finished.status });
    this.taskDuration.observe({ job: finished.job }, finished.durationSec);
    const invocationId = finished.invocationId;
    const requested = this.killRequested.get(invocationId);
    if (requested === undefined) return;
    this.killRequested.delete(invocationId);
    this.killLatency.observe((performance.now() - requested) / 1000);
  }
}
