/**
 * The runner the daemon uses: a simulated one for --dry-run and
 * --benchmark-run, else the local runner over a supervisor whose tasks run
 * below the scheduler's raised CPU priority.
 */
import { hostname } from 'node:os';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { LocalRunner } from '../runners/localRunner.js';
import type { FinishedTask, Runner } from '../runners/runner.js';
import { SimulatedRunner } from '../runners/simulatedRunner.js';
import type { RandomSource } from '../scheduler/random.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { TaskStateStore } from '../store/statusStore.js';
import type { TaskLogs } from '../store/taskLogStore.js';
import type { LocalRunnerDeps } from '../runners/localRunner.js';
import type { ContainmentFactory } from '../supervisor/containment/containmentFactory.js';
import { Supervisor } from '../supervisor/supervisor.js';
import type { LaunchPlans } from '../runners/launchPlans.js';
import { boostSchedulerPriority, type CpuPriority } from './cpuPriority.js';

/**
 * Nice levels above its tasks: the whole range (nice 0 tasks, a nice -20
 * event loop). Ten levels (a weight ratio of ~9) were not enough against
 * 64 runnable tasks on two cores: the event loop waited ~0.4 ms in the run
 * queue per task turned over, against ~0.25 ms with twenty (BENCHMARKS.md).
 */
export const DEFAULT_PRIORITY_BOOST = 20;

export interface RunnerSetup {
  readonly simulation?: { readonly meanDurationMs: number; readonly failureRate: number };
  readonly dataDir: string;
  readonly workerCommand?: string;
  readonly instanceName: string;
  readonly priorityBoost?: number;
  readonly statuses: TaskStatuses;
  readonly statusStore: TaskStateStore;
  readonly logStore: TaskLogs;
  readonly containment: ContainmentFactory;
  readonly plans: LaunchPlans;
  readonly random: RandomSource;
  readonly logger: Logger;
  readonly config: () => Config;
  readonly onComplete: (finished: FinishedTask) => void;
  /** With a shared store: the start's durable row, and kills of tasks other workers run. */
  readonly shared?: Pick<LocalRunnerDeps, 'dispatch' | 'killElsewhere'>;
  /** A task's process group appears or ends (the worker watchdog tracks them). */
  readonly onProcessGroup?: LocalRunnerDeps['onProcessGroup'];
  readonly startedFields?: LocalRunnerDeps['startedFields'];
}

export function createRunner(setup: RunnerSetup): { runner: Runner; priority: CpuPriority | undefined } {
  if (setup.simulation) {
    const runner = new SimulatedRunner(setup.statuses, {
      ...setup.simulation,
      random: setup.random,
      config: setup.config,
      onComplete: setup.onComplete,
    });
    return { runner, priority: undefined };
  }
  const priority = boostSchedulerPriority(setup.priorityBoost ?? DEFAULT_PRIORITY_BOOST, setup.logger);
  let runner: LocalRunner | undefined = undefined;
  const supervisor = new Supervisor({
    ...LocalRunner.hooks(() => runner!),
    containment: setup.containment,
    taskNice: priority.taskNice,
    // The scheduler never changes its environment: convert it once, not per task.
    env: { ...process.env },
  });
  runner = new LocalRunner(supervisor, {
    dataDir: setup.dataDir,
    statuses: setup.statuses,
    statusStore: setup.statusStore,
    logStore: setup.logStore,
    logger: setup.logger,
    arguments: {
      workerCommand: setup.workerCommand ? [setup.workerCommand] : [],
      instanceNode: setup.instanceName,
      hostname: hostname(),
    },
    config: setup.config,
    plans: setup.plans,
    onComplete: setup.onComplete,
    ...setup.shared,
    ...(setup.onProcessGroup ? { onProcessGroup: setup.onProcessGroup } : {}),
    ...(setup.startedFields ? { startedFields: setup.startedFields } : {}),
  });
  return { runner, priority };
}
