/**
 * One scheduling pass, applied: runs the pure pass over the config, nodes
 * and statuses, then starts and kills what it decided through the runner,
 * reports its errors, and persists the statuses it changed.
 */
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { Runner } from '../runners/runner.js';
import { ErrorKeys, type PassResult, type Scheduler } from '../scheduler/pass.js';
import type { RandomSource } from '../scheduler/random.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { TaskStateStore } from '../store/statusStore.js';
import type { SchedulerMetrics } from '../server/metrics.js';
import type { ErrorRegistry } from './errorRegistry.js';
import type { NodeRefresher } from './nodeRefresher.js';
import type { PacedPass } from './passPacer.js';

export const ErrorRegistryKeys = {
  config: 'Config',
  nodes: 'Nodes',
  unkillable: 'Unkillable tasks',
  placement: 'Worker placement',
} as const;

/** Declined starts listed in the error registry: enough to see why, not one per node. */
const MAX_REFUSALS_SHOWN = 20;

export interface PassDeps {
  readonly config: () => Config;
  readonly nodes: NodeRefresher;
  readonly scheduler: Scheduler;
  readonly statuses: TaskStatuses;
  readonly random: RandomSource;
  readonly runner: () => Runner;
  readonly statusStore: TaskStateStore;
  /** Whether this scheduler leads (a standby runs no pass). */
  readonly leads: () => boolean;
  /** Whether a task may start now (a shared store: a fresh worker lease). */
  readonly mayStart: () => boolean;
  /** Tasks started under another leader's config: this config cannot call them orphans. */
  readonly spareFromOrphanKill?: (invocationId: string) => boolean;
  readonly metrics: () => SchedulerMetrics;
  readonly errors: ErrorRegistry;
  readonly logger: Logger;
}

export class PassApplier implements PacedPass {
  private decisionMs = 0;
  /** The last pass's result (tests and benchmarks read it). */
  last: PassResult | undefined;

  constructor(private readonly deps: PassDeps) {}

  lastDecisionMs(): number {
    return this.decisionMs;
  }

  /** Runs one pass now and applies its decisions. */
  run(): PassResult | undefined {
    const { deps } = this;
    if (!deps.leads()) return undefined;
    const started = performance.now();
    const config = deps.config();
    const nodes = deps.nodes.current(config.settings);
    if (deps.nodes.error) deps.errors.set(ErrorRegistryKeys.nodes, [deps.nodes.error]);
    else deps.errors.clear(ErrorRegistryKeys.nodes);
    if (!nodes) {
      deps.errors.set(ErrorKeys.mainLoop, ['Waiting for a node refresh that matches the configured levels']);
      return undefined;
    }
    const runner = deps.runner();
    const metrics = deps.metrics();
    const now = Date.now() / 1000;
    const result = deps.scheduler.run({
      config,
      nodes,
      statuses: deps.statuses,
      now,
      random: deps.random,
      canKill: runner.canKill,
    });
    // Only the decision counts toward pacing; starting tasks is work we want done.
    this.decisionMs = performance.now() - started;
    for (const key of Object.values(ErrorKeys)) deps.errors.set(key, result.errors[key] ?? []);
    metrics.passDuration.observe(this.decisionMs / 1000);
    const refusals: string[] = [];
    if (result.starts.length > 0) runner.beginPass?.();
    for (const start of result.starts) {
      // No launch without a durable launch record: new tasks wait while statuses cannot be written.
      if (!deps.statusStore.writable || !deps.mayStart()) break;
      const started = runner.start(start, now);
      if ('refused' in started) {
        refusals.push(`${start.job.name} on ${start.node}: ${started.reason}`);
        if (started.refused === 'no_worker') break;
        continue;
      }
      metrics.taskStarted(start.job.name);
    }
    deps.errors.set(ErrorRegistryKeys.placement, [
      ...(runner.placementProblems?.() ?? []),
      ...refusals.slice(0, MAX_REFUSALS_SHOWN),
    ]);
    for (const kill of result.kills) {
      if (kill.reason === 'orphan' && deps.spareFromOrphanKill?.(kill.invocationId)) continue;
      const outcome = runner.kill(kill.invocationId, kill.request, kill.reason);
      if (outcome.ok) metrics.killSent(kill.invocationId, kill.request.method, kill.reason);
      const { job, node, reason, detail } = kill;
      deps.logger.warn({ job, node, reason, detail, outcome: outcome.message }, 'killing task');
    }
    deps.errors.set(
      ErrorRegistryKeys.unkillable,
      [...runner.unkillable()].map((id) => `Task ${id} survived SIGKILL; its resources stay reserved`),
    );
    deps.statusStore.flush();
    this.last = result;
    return result;
  }
}
