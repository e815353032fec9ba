/**
 * The scheduler process: polls the config, refreshes nodes, runs
 * scheduling passes, starts and kills tasks through the runner, persists
 * statuses, and on TERM/INT/QUIT stops every task it started before exiting.
 *
 * Passes run every `working_wait` while tasks run (`idle_wait` otherwise),
 * and also soon after a task completes -- but never so often that passes
 * take more than about a fifth of the time.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { FileConfigLoader } from '../config/fileLoader.js';
import type { KillRequest } from '../config/killRequest.js';
import type { Logger } from '../logging/logger.js';
import { LocalRunner } from '../runners/localRunner.js';
import type { AbandonedTask, Runner } from '../runners/runner.js';

export { DEFAULT_STOP_GRACE_MS } from './shutdown.js';
export type { HttpOptions } from './apiServer.js';
import { SimulatedRunner } from '../runners/simulatedRunner.js';
import { ErrorKeys, Scheduler, type PassResult } from '../scheduler/pass.js';
import { seededRandom } from '../scheduler/random.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { TaskStatuses } from '../statuses/taskStatuses.js';
import { StatusStore } from '../store/statusStore.js';
import { TaskLogStore } from '../store/taskLogStore.js';
import { ContainmentFactory } from '../supervisor/containment/containmentFactory.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { ConfigWriter } from '../config/configWriter.js';
import type { ApiContext } from '../server/apiContext.js';
import { ApiError, NotFoundError } from '../server/apiErrors.js';
import { startApiServer, type HttpOptions } from './apiServer.js';
import { HistogramCache } from './histogramCache.js';
import { LogPruner } from './logPruner.js';
import { PassPacer } from './passPacer.js';
import { DEFAULT_STOP_GRACE_MS, stopAllTasks } from './shutdown.js';
import { SchedulerMetrics } from '../server/metrics.js';
import { registerStoreMetrics, reportingStoreHealth } from './storeReporting.js';
import type { StoreHealth } from '../store/storeHealth.js';
import { SpaceReserve } from '../store/spaceReserve.js';
import { ApiServerHost } from '../server/apiServerHost.js';
import { setPriority } from 'node:os';
import { boostSchedulerPriority, type CpuPriority } from './cpuPriority.js';
import { ErrorRegistry } from './errorRegistry.js';
import { NodeRefresher } from './nodeRefresher.js';
import { claimInstance, type InstanceIdentity } from './instanceIdentity.js';
import { recoverLeftovers } from './recovery.js';
import { withEnforceableLimits } from './enforceableLimits.js';

export interface DaemonOptions {
  readonly configFile: string;
  readonly dataDir: string;
  readonly workerCommand?: string;
  readonly instanceNodeName?: string;
  readonly configUpdateMs?: number;
  readonly nodesUpdateMs?: number;
  readonly nodesRetryMs?: number;
  readonly dryRun?: boolean;
  readonly benchmarkRun?: boolean;
  /** --benchmark-run: mean simulated task duration and failure rate. */
  readonly testTaskDurationMs?: number;
  readonly testFailureRate?: number;
  readonly logRetentionSec?: number;
  readonly logPruneFrequencySec?: number;
  /** Nice levels the scheduler runs above its tasks when it may (default 10; 0 = none). */
  readonly priorityBoost?: number;
  readonly logger: Logger;
  /** The REST API; port 0 turns it off. */
  readonly http?: HttpOptions;
  /** A fixed instance identity (--instance-id); by default the data dir's, made on first start. */
  readonly instanceId?: string;
  /** Where host-wide identity locks live (tests point it elsewhere). */
  readonly identityLockDir?: string;
  /** Time beyond the largest kill_wait_ms before a stop SIGKILLs everything in reach. */
  readonly stopGraceMs?: number;
}

/** What a stop left behind. */
export interface StopReport {
  /** Tasks that could not be confirmed dead, with pids still found holding their pipes or marker. */
  readonly abandoned: readonly AbandonedTask[];
}

/** Nice levels above its tasks: enough to win the CPU from a few dozen busy tasks. */
export const DEFAULT_PRIORITY_BOOST = 10;

export const ErrorRegistryKeys = {
  config: 'Config',
  nodes: 'Nodes',
  unkillable: 'Unkillable tasks',
} as const;

export class SchedulerDaemon {
  readonly statuses = new TaskStatuses();
  readonly errors = new ErrorRegistry();
  readonly scheduler = new Scheduler();
  readonly configLoader: FileConfigLoader;
  readonly statusStore: StatusStore;
  readonly logStore: TaskLogStore;
  private readonly storeHealth: StoreHealth;
  readonly runner: Runner;
  readonly nodes: NodeRefresher;
  readonly instanceName: string;
  readonly containment: ContainmentFactory;
  /** This instance's identity; undefined in --dry-run and --benchmark-run, which start no process. */
  readonly identity: InstanceIdentity | undefined;
  private readonly logger: Logger;
  private priority: CpuPriority | undefined;
  private readonly random = seededRandom(Date.now() & 0xffffffff);
  private readonly pacer: PassPacer;
  private lastPassMs = 0;
  private stopping: Promise<StopReport> | undefined;
  private escalateStop: () => void = () => undefined;
  private readonly escalated = new Promise<void>((resolve) => (this.escalateStop = resolve));
  private readonly pruner: LogPruner;
  private readonly histograms: HistogramCache;
  private server: ApiServerHost | undefined;
  readonly metrics: SchedulerMetrics;
  lastPass: PassResult | undefined;

  constructor(private readonly options: DaemonOptions) {
    this.logger = options.logger;
    this.instanceName = options.instanceNodeName ?? hostname();
    const simulated = options.dryRun || options.benchmarkRun;
    // First: a second scheduler on this data dir (or a copy of it) must stop here, before it reads anything.
    this.identity = simulated
      ? undefined
      : claimInstance(options.dataDir, options.instanceId, options.identityLockDir);
    this.containment = new ContainmentFactory(undefined, { instance: this.identity?.id });
    this.configLoader = new FileConfigLoader(options.configFile, {
      // Limits the host cannot enforce make their job invalid at load, not every launch fail.
      check: simulated ? undefined : (config) => withEnforceableLimits(config, this.containment),
      onChange: (state) => {
        if (state.error) {
          this.errors.set(ErrorRegistryKeys.config, [state.error.message]);
          this.logger.error(
            { error: state.error.message },
            'config rejected; the last good config stays in force',
          );
        } else {
          this.errors.clear(ErrorRegistryKeys.config);
          this.logger.info({ jobs: state.config.jobs.size, generation: state.generation }, 'config loaded');
          this.nodes.onConfigChange(state.config.settings);
          this.requestPass(0);
        }
      },
    });
    // Released so the stores open even on a full disk; restored once there is room.
    const reserve = new SpaceReserve(options.dataDir);
    reserve.release();
    this.storeHealth = reportingStoreHealth(this.logger, this.errors, reserve, () => {
      this.logStore.checkpoint();
      this.statusStore.checkpoint();
    });
    this.statusStore = new StatusStore(join(options.dataDir, 'statuses.sqlite'), this.storeHealth);
    this.logStore = new TaskLogStore(join(options.dataDir, 'task_logs.sqlite'), this.storeHealth);
    reserve.restore();
    this.statuses.onChange((job, node, status) => this.statusStore.queueStatus(job, node, status));
    this.nodes = new NodeRefresher(() => this.config.settings, {
      instanceName: this.instanceName,
      updateMs: options.nodesUpdateMs ?? 300_000,
      retryMs: options.nodesRetryMs ?? 30_000,
      logger: this.logger,
      onRefresh: () => this.requestPass(0),
    });
    if (options.dryRun || options.benchmarkRun) {
      this.runner = new SimulatedRunner(this.statuses, {
        meanDurationMs: options.dryRun ? 0 : (options.testTaskDurationMs ?? 5000),
        failureRate: options.testFailureRate ?? 0,
        random: this.random,
        onComplete: () => this.pacer.taskCompleted(),
      });
    } else {
      let runner: LocalRunner | undefined = undefined;
      this.priority = boostSchedulerPriority(options.priorityBoost ?? DEFAULT_PRIORITY_BOOST, this.logger);
      const supervisor = new Supervisor({
        ...LocalRunner.hooks(() => runner!),
        containment: this.containment,
        taskNice: this.priority.taskNice,
        // The scheduler never changes its environment: convert it once, not per task.
        env: { ...process.env },
      });
      runner = new LocalRunner(supervisor, {
        dataDir: options.dataDir,
        statuses: this.statuses,
        statusStore: this.statusStore,
        logStore: this.logStore,
        logger: this.logger,
        arguments: {
          workerCommand: options.workerCommand ? [options.workerCommand] : [],
          instanceNode: this.instanceName,
          hostname: hostname(),
        },
        config: () => this.config,
        onComplete: (id) => {
          this.metrics.taskCompleted(id);
          this.pacer.taskCompleted();
        },
      });
      this.runner = runner;
    }
    this.metrics = new SchedulerMetrics(
      this.statuses,
      () => this.runner.unkillable().size,
      () => (this.runner instanceof LocalRunner ? this.runner.logBackpressureEvents : 0),
    );
    registerStoreMetrics(this.metrics.registry, this.storeHealth);
    this.pacer = new PassPacer(
      { run: () => this.runPass(), lastDecisionMs: () => this.lastPassMs },
      () => this.config.settings,
      this.errors,
      this.logger,
    );
    this.histograms = new HistogramCache(
      () => this.config,
      () => this.nodes.current(this.config.settings),
      this.scheduler,
      this.statuses,
    );
    this.pruner = new LogPruner(
      this.logStore,
      options.logRetentionSec ?? 30 * 86400,
      options.logPruneFrequencySec ?? 3600,
      this.logger,
    );
  }

  /** Port the REST API listens on, once started (0 = off). */
  get httpPort(): number {
    return this.server?.port ?? 0;
  }

  /** What the REST handlers may read and do. */
  apiContext(): ApiContext {
    const http = this.options.http;
    return {
      config: () => this.config,
      nodes: () => this.nodes.current(this.config.settings),
      nodeIndex: (nodes) => this.scheduler.nodeIndex(nodes, this.config, this.statuses),
      eligibility: this.scheduler.eligibility,
      statuses: this.statuses,
      errors: () => this.errors.snapshot(),
      histograms: () => this.histograms.get(),
      killTask: (jobName, node) => {
        const job = this.config.jobs.get(jobName);
        if (!job) throw new NotFoundError(`Unknown job ${jobName}`);
        const task = this.statuses.runningTask(jobName, node);
        if (!task) throw new NotFoundError(`Unknown running task ${jobName}, ${node}`);
        const outcome = this.runner.kill(task.invocationId, job.killSubprocess, 'api');
        if (!outcome.ok) throw new ApiError(outcome.message, 409);
        this.metrics.killSent(task.invocationId, job.killSubprocess.method, 'api');
        return outcome.message;
      },
      forgive: (job) => {
        if (!this.config.jobs.has(job) && !this.statuses.table(job))
          throw new NotFoundError(`Invalid job id: ${job}`);
        this.statuses.forgive(job);
        this.statusStore.flush();
        this.requestPass(0);
      },
      usage: (id) => this.runner.usage(id),
      logDb: this.logStore.db,
      flushLogs: () => this.logStore.flush(),
      configWriter: new ConfigWriter(this.configLoader.file),
      allowCommand: http?.allowCommand ?? false,
    };
  }

  /** The config in force (the last good one). */
  get config(): Config {
    return this.configLoader.current().config;
  }

  /** Loads state, kills leftovers of a previous instance, then starts scheduling. */
  async start(): Promise<void> {
    const loaded =
      this.options.dryRun || this.options.benchmarkRun ? 0 : this.statusStore.loadStatuses(this.statuses);
    const settings = this.config.settings;
    this.logger.info(
      {
        config: this.configLoader.file,
        dataDir: this.options.dataDir,
        instance: this.identity?.id,
        statuses: loaded,
      },
      'scheduler starting',
    );
    if (!settings.enabled)
      this.logger.warn('bistro_settings.enabled is false: no task will start until it is set to true');
    const taskOptions = [
      settings.taskSubprocess,
      ...[...this.config.jobs.values()].map((job) => job.taskSubprocess),
    ];
    this.logger.info({ containment: this.containment.describe(settings.taskSubprocess) }, 'task containment');
    for (const warning of this.containment.warnings) this.logger.warn(warning);
    if (!(this.options.dryRun || this.options.benchmarkRun)) {
      const choices = [
        ...new Map(
          taskOptions.map((o) => [JSON.stringify(o.cgroups ?? null), this.containment.choose(o)]),
        ).values(),
      ];
      const report = await recoverLeftovers(
        this.statusStore,
        this.statuses,
        this.logStore,
        choices,
        this.logger,
      );
      if (report.recordsChecked > 0) this.logger.warn({ ...report }, 'restart recovery finished');
    }
    for (const warning of this.config.warnings)
      this.logger.warn({ path: warning.path.join('.') }, warning.message);
    await this.nodes.refresh();
    await this.startServer();
    this.configLoader.start(this.options.configUpdateMs ?? 10_000);
    this.pruner.start();
    if (!this.stopping) this.pacer.start();
  }

  private async startServer(): Promise<void> {
    const http = this.options.http;
    if (!http || http.port === 0) return;
    this.server = await startApiServer(http, this.apiContext(), this.metrics, this.logger);
  }

  /** Runs one pass now and applies its decisions. */
  runPass(): PassResult | undefined {
    const started = performance.now();
    const config = this.config;
    const nodes = this.nodes.current(config.settings);
    if (this.nodes.error) this.errors.set(ErrorRegistryKeys.nodes, [this.nodes.error]);
    else this.errors.clear(ErrorRegistryKeys.nodes);
    if (!nodes) {
      this.errors.set(ErrorKeys.mainLoop, ['Waiting for a node refresh that matches the configured levels']);
      return undefined;
    }
    const now = Date.now() / 1000;
    const result = this.scheduler.run({
      config,
      nodes,
      statuses: this.statuses,
      now,
      random: this.random,
      canKill: this.runner.canKill,
    });
    // Only the decision counts toward pacing; starting tasks is work we want done.
    this.lastPassMs = performance.now() - started;
    for (const key of Object.values(ErrorKeys)) this.errors.set(key, result.errors[key] ?? []);
    this.metrics.passDuration.observe(this.lastPassMs / 1000);
    for (const start of result.starts) {
      // No launch without a durable launch record: new tasks wait while statuses cannot be written.
      if (!this.statusStore.writable) break;
      this.runner.start(start, now);
      this.metrics.taskStarted(start.job.name);
    }
    for (const kill of result.kills) {
      const outcome = this.runner.kill(kill.invocationId, kill.request, kill.reason);
      if (outcome.ok) this.metrics.killSent(kill.invocationId, kill.request.method, kill.reason);
      this.logger.warn(
        {
          job: kill.job,
          node: kill.node,
          reason: kill.reason,
          detail: kill.detail,
          outcome: outcome.message,
        },
        'killing task',
      );
    }
    const unkillable = [...this.runner.unkillable()];
    this.errors.set(
      ErrorRegistryKeys.unkillable,
      unkillable.map((id) => `Task ${id} survived SIGKILL; its resources stay reserved`),
    );
    this.statusStore.flush();
    this.lastPass = result;
    return result;
  }

  /** Schedules a pass in `delayMs` unless one is due sooner. */
  requestPass(delayMs: number): void {
    this.pacer.request(delayMs);
  }

  /** The kill request for a task: its job's, or the settings' for a deleted job. */
  killRequestFor(task: RunningTask): KillRequest {
    const config = this.config;
    return (config.jobs.get(task.job) ?? config.settings).killSubprocess;
  }

  /**
   * Stops starting tasks and ends every running task, in steps that always
   * finish: each task's kill request, then (after the largest kill_wait_ms
   * plus a grace, or at once on a second signal) SIGKILL of everything in
   * reach, then, after a short wait, the tasks still not confirmed dead are
   * recorded as such and given up on. Then everything is persisted.
   */
  stop(): Promise<StopReport> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** A second signal: go to the SIGKILL step now. */
  escalate(): void {
    this.logger.warn('second signal: killing every task with SIGKILL');
    this.escalateStop();
  }

  private async doStop(): Promise<StopReport> {
    this.pacer.stop();
    this.pruner.stop();
    this.configLoader.stop();
    this.nodes.stop();
    this.logger.info({ running: this.statuses.runningCount }, 'stopping: killing every running task');
    const abandoned = await stopAllTasks(this.runner, this.config, (task) => this.killRequestFor(task), {
      graceMs: this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
      escalated: this.escalated,
      logger: this.logger,
    });
    await this.server?.close();
    this.statusStore.close();
    this.logStore.close();
    const kept = await this.containment.removeInstanceCgroups();
    if (kept.length > 0)
      this.logger.warn({ cgroups: kept }, "this instance's cgroup sub-tree is not empty; left in place");
    this.identity?.release();
    // Lowering a priority back is always allowed; it matters to a process that hosts another daemon later.
    if (this.priority && this.priority.schedulerNice !== this.priority.taskNice)
      setPriority(this.priority.taskNice);
    this.logger.info({ abandoned: abandoned.length }, 'scheduler stopped');
    return { abandoned };
  }
}
