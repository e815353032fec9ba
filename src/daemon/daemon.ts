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
import { changedSince, type Config } from '../config/config.js';
import { FileConfigLoader } from '../config/fileLoader.js';
import type { ConfigSource, ConfigSourceOptions } from '../config/configSource.js';
import type { ConfigWrites } from '../config/configWrites.js';
import { ConfigWriter } from '../config/configWriter.js';
import { DatabaseConfigLoader } from '../cluster/databaseConfigLoader.js';
import { DatabaseConfigWriter } from '../cluster/databaseConfigWriter.js';
import { runnerModeWarnings } from '../config/runnerModeWarnings.js';
import { formatKeyPath } from '../config/issues.js';
import type { Logger } from '../logging/logger.js';
import { LocalRunner } from '../runners/localRunner.js';
import type { Runner } from '../runners/runner.js';

export { DEFAULT_STOP_GRACE_MS } from './shutdown.js';
export { DEFAULT_PRIORITY_BOOST } from './runnerFactory.js';
export { ErrorRegistryKeys } from './passApplier.js';
export type { HttpOptions } from './apiServer.js';
import { Scheduler, type PassResult } from '../scheduler/pass.js';
import { seededRandom } from '../scheduler/random.js';
import { TaskStatuses } from '../statuses/taskStatuses.js';
import type { TaskStateStore } from '../store/statusStore.js';
import type { TaskLogs } from '../store/taskLogStore.js';
import { openSqliteStorage, type TaskStorage } from '../store/storage.js';
import { Cluster, type ClusterHooks } from './cluster.js';
import { RemoteRunner } from '../runners/remoteRunner.js';
import { NotificationListener } from '../store/postgres/notificationListener.js';
import { COMPLETION_CHANNEL } from '../store/postgres/pgStatusStore.js';
import { completedTasks, completionNotices, workerRows } from '../store/postgres/remoteTasks.js';
import {
  DEFAULT_KILL_BOUND_SEC,
  DEFAULT_LEADER_LEASE_SEC,
  DEFAULT_WORKER_LEASE_SEC,
} from '../cluster/leaseTiming.js';
import { WORKER_LOST_MESSAGE } from '../cluster/workerLossMonitor.js';
import { StatusBits as B } from '../statuses/taskStatus.js';
import { registerClusterMetrics, registerConfigVersionMetric } from './clusterMetrics.js';
import { ContainmentFactory } from '../supervisor/containment/containmentFactory.js';
import type { ApiContext } from '../server/apiContext.js';
import { startApiServer } from './apiServer.js';
import { HistogramCache } from './histogramCache.js';
import { LogPruner } from './logPruner.js';
import { PassPacer } from './passPacer.js';
import { ErrorRegistryKeys, PassApplier } from './passApplier.js';
import { createRunner } from './runnerFactory.js';
import { logConfigLoaded } from './configReporting.js';
import { daemonApi } from './daemonApi.js';
import type { DaemonOptions, StopReport } from './daemonOptions.js';

export type { DaemonOptions, StopReport } from './daemonOptions.js';
import { LaunchPlans } from '../runners/launchPlans.js';
import type { LaunchPlan } from '../supervisor/launchPlan.js';
import type { ContainmentChoice } from '../supervisor/containment/containmentFactory.js';
import { DatabaseError } from '../store/postgres/connection.js';
import type { Leadership } from '../server/apiContext.js';
import { apiUrlOf, taskCgroupRoots } from './clusterAddresses.js';
import { DEFAULT_STOP_GRACE_MS, stopAllTasks } from './shutdown.js';
import { SchedulerMetrics } from '../server/metrics.js';
import { registerStoreMetrics, reportingStoreHealth } from './storeReporting.js';
import type { StoreHealth } from '../store/storeHealth.js';
import { SpaceReserve } from '../store/spaceReserve.js';
import { ApiServerHost } from '../server/apiServerHost.js';
import { setProcessNice, type CpuPriority } from './cpuPriority.js';
import { ErrorRegistry } from './errorRegistry.js';
import { NodeRefresher } from './nodeRefresher.js';
import { EventLoopSlicer } from '../nodes/eventLoopSlicer.js';
import { claimInstance, type InstanceIdentity } from './instanceIdentity.js';
import { recoverLeftovers } from './recovery.js';
import { withEnforceableLimits } from './enforceableLimits.js';

export class SchedulerDaemon {
  readonly statuses = new TaskStatuses();
  readonly errors = new ErrorRegistry();
  readonly scheduler = new Scheduler();
  readonly configLoader: ConfigSource;
  /** Where save_job, delete_job and save_settings write. */
  private readonly configWriter: ConfigWrites;
  readonly storage: TaskStorage;
  readonly statusStore: TaskStateStore;
  readonly logStore: TaskLogs;
  /** With --database: leadership, the worker lease and the shared store. */
  readonly cluster: Cluster | undefined;
  private readonly storeHealth: StoreHealth;
  readonly runner: Runner;
  readonly nodes: NodeRefresher;
  readonly instanceName: string;
  readonly containment: ContainmentFactory;
  readonly plans: LaunchPlans;
  /** This instance's identity; undefined in --dry-run and --benchmark-run, which start no process. */
  readonly identity: InstanceIdentity | undefined;
  private readonly logger: Logger;
  private priority: CpuPriority | undefined;
  private readonly random = seededRandom(Date.now() & 0xffffffff);
  private readonly pacer: PassPacer;
  private readonly pass: PassApplier;
  private stopping: Promise<StopReport> | undefined;
  private escalateStop: () => void = () => undefined;
  private readonly escalated = new Promise<void>((resolve) => (this.escalateStop = resolve));
  private readonly pruner: LogPruner;
  private readonly histograms: HistogramCache;
  private server: ApiServerHost | undefined;
  /** Tasks a leader with another config handed over: never orphan-killed by this one. */
  private inheritedUnderOtherConfig: ReadonlySet<string> = new Set();
  /** With --runner remote: wakes the runner when a worker stores a completion. */
  private completions: NotificationListener | undefined;
  readonly metrics: SchedulerMetrics;

  constructor(private readonly options: DaemonOptions) {
    this.logger = options.logger;
    this.instanceName = options.instanceNodeName ?? hostname();
    const simulated = options.dryRun || options.benchmarkRun;
    const runsTasksHere = !simulated && options.database?.runner !== 'remote';
    // First: a second scheduler on this data dir (or a copy of it) must stop here, before it reads anything.
    this.identity = simulated
      ? undefined
      : claimInstance(options.dataDir, options.instanceId, options.identityLockDir);
    try {
      this.containment = new ContainmentFactory(undefined, { instance: this.identity?.id });
      this.plans = new LaunchPlans(this.containment);
      const configOptions: ConfigSourceOptions = {
        // Limits the host cannot enforce make their job invalid at load, not every launch fail.
        // (With --runner remote, workers check their own hosts.)
        check: runsTasksHere ? (config) => withEnforceableLimits(config, this.plans) : undefined,
        onChange: (state, previous) => {
          this.metrics.configLoaded(state.error === undefined);
          if (state.error) {
            this.errors.set(ErrorRegistryKeys.config, [state.error.message]);
            this.logger.error(
              { error: state.error.message },
              'config rejected; the last good config stays in force',
            );
            return;
          }
          this.errors.clear(ErrorRegistryKeys.config);
          // What the change brought is reported once (a shared config changes job by job).
          const changed = changedSince(state.config, previous);
          logConfigLoaded(this.logger, state.config, changed, state.generation);
          // Settings warnings again only when the settings changed (then `changed` is the whole config).
          this.warnAboutRunnerMode(changed, changed === state.config);
          this.nodes.onConfigChange(state.config.settings);
          if (runsTasksHere) this.cluster?.watchTaskCgroups(this.logContainment(changed));
          this.requestPass(0);
        },
      };
      if (options.configDatabase) {
        const loader = new DatabaseConfigLoader(options.configDatabase, {
          ...configOptions,
          logger: this.logger,
        });
        this.configLoader = loader;
        this.configWriter = new DatabaseConfigWriter(options.configDatabase.pool, (key) => loader.entry(key));
      } else {
        const file = new FileConfigLoader(options.configFile, configOptions);
        this.configLoader = file;
        this.configWriter = new ConfigWriter(file.file);
      }
      // Released so the stores open even on a full disk; restored once there is room.
      const reserve = new SpaceReserve(options.dataDir);
      reserve.release();
      this.storeHealth = reportingStoreHealth(this.logger, this.errors, reserve, () => {
        this.logStore.checkpoint();
        this.statusStore.checkpoint();
      });
      const database = options.database;
      this.cluster = database
        ? new Cluster({
            url: database.url,
            dataDir: options.dataDir,
            workerName: database.workerName ?? hostname(),
            host: hostname(),
            leaderLeaseMs: (database.leaderLeaseSec ?? DEFAULT_LEADER_LEASE_SEC) * 1000,
            workerLeaseMs: (database.workerLeaseSec ?? DEFAULT_WORKER_LEASE_SEC) * 1000,
            killBoundMs: (database.killBoundSec ?? DEFAULT_KILL_BOUND_SEC) * 1000,
            logger: this.logger,
            health: this.storeHealth,
            runner: database.runner ?? 'local',
          })
        : undefined;
      this.storage = this.cluster?.storage ?? openSqliteStorage(options.dataDir, this.storeHealth);
      this.statusStore = this.storage.state;
      this.logStore = this.storage.logs;
      reserve.restore();
      this.statuses.onChange((job, node, status) => this.statusStore.queueStatus(job, node, status));
      this.nodes = new NodeRefresher(() => this.config.settings, {
        instanceName: this.instanceName,
        names: this.statuses.names,
        updateMs: options.nodesUpdateMs ?? 300_000,
        retryMs: options.nodesRetryMs ?? 30_000,
        logger: this.logger,
        onRefresh: () => this.requestPass(0),
        prepare: (nodes) => {
          const slicer = new EventLoopSlicer();
          return this.scheduler.prepare(nodes, this.config, this.statuses, () => slicer.due());
        },
      });
      const cluster = this.cluster;
      const created = cluster?.remote
        ? { runner: this.remoteRunner(cluster), priority: undefined }
        : createRunner({
            simulation: simulated
              ? {
                  meanDurationMs: options.dryRun ? 0 : (options.testTaskDurationMs ?? 5000),
                  failureRate: options.testFailureRate ?? 0,
                }
              : undefined,
            dataDir: options.dataDir,
            workerCommand: options.workerCommand,
            instanceName: this.instanceName,
            priorityBoost: options.priorityBoost,
            statuses: this.statuses,
            statusStore: this.statusStore,
            logStore: this.logStore,
            containment: this.containment,
            plans: this.plans,
            random: this.random,
            logger: this.logger,
            config: () => this.config,
            onComplete: (finished) => {
              this.metrics.taskCompleted(finished);
              this.pacer.taskCompleted();
            },
            onProcessGroup: this.cluster && ((pgid, alive) => this.cluster!.processGroup(pgid, alive)),
            shared: this.cluster && {
              dispatch: (task) => this.cluster!.storage.dispatch(task),
              killElsewhere: (task, request, reason) => this.cluster!.requestKill(task, request, reason),
            },
          });
      this.runner = created.runner;
      this.priority = created.priority;
      this.metrics = new SchedulerMetrics(
        this.statuses,
        () => this.runner.unkillable().size,
        () => (this.runner instanceof LocalRunner ? this.runner.logBackpressureEvents : 0),
      );
      registerStoreMetrics(this.metrics.registry, this.storeHealth);
      if (this.cluster) registerClusterMetrics(this.metrics.registry, this.cluster);
      if (this.configLoader instanceof DatabaseConfigLoader)
        registerConfigVersionMetric(this.metrics.registry, this.configLoader);
      this.pass = new PassApplier({
        config: () => this.config,
        nodes: this.nodes,
        scheduler: this.scheduler,
        statuses: this.statuses,
        random: this.random,
        runner: () => this.runner,
        statusStore: this.statusStore,
        leads: () => this.cluster?.leads ?? true,
        spareFromOrphanKill: (invocationId) => this.inheritedUnderOtherConfig.has(invocationId),
        mayStart: () => this.cluster?.mayStart() ?? true,
        metrics: () => this.metrics,
        errors: this.errors,
        logger: this.logger,
      });
      this.pacer = new PassPacer(this.pass, () => this.config.settings, this.errors, this.logger);
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
    } catch (error) {
      // Nothing of this instance outlives a start that failed here: its identity is given back.
      this.identity?.release();
      throw error;
    }
  }

  /** Tasks on `bistro worker` processes: placed on healthy workers, dispatched and watched through the database. */
  private remoteRunner(cluster: Cluster): RemoteRunner {
    const pool = cluster.storage.pool;
    const runner = new RemoteRunner({
      statuses: this.statuses,
      config: () => this.config,
      logger: this.logger,
      workers: () => cluster.healthyWorkers(),
      leads: () => cluster.leads,
      dispatch: (task, incarnation, spec) => cluster.dispatchRemote(task, incarnation, spec),
      requestKill: (task, request, reason) => cluster.requestKill(task, request, reason),
      completed: (tasks) => completedTasks(pool, tasks),
      onComplete: (finished) => {
        this.metrics.taskCompleted(finished);
        this.pacer.taskCompleted();
      },
    });
    this.completions = new NotificationListener(
      cluster.url,
      COMPLETION_CHANNEL,
      (payload) => runner.notified(payload ? completionNotices(payload) : undefined),
      this.logger,
    );
    return runner;
  }

  /** Keys that do nothing with this runner: a warning each (the settings' only with `includeSettings`). */
  private warnAboutRunnerMode(config: Config, includeSettings = true): void {
    if (this.options.dryRun || this.options.benchmarkRun) return;
    const mode = this.options.database?.runner === 'remote' ? 'remote' : 'local';
    for (const warning of runnerModeWarnings(config, mode, includeSettings))
      this.logger.warn({ path: formatKeyPath(warning.path) }, warning.message);
  }

  /** Logs each containment the config's launch plans use, once; returns the plans. */
  private logContainment(config: Config): LaunchPlan[] {
    const plans = [this.plans.forSettings(config.settings)];
    for (const job of config.jobs.values()) {
      const compiled = job.errors === undefined ? this.plans.compile(job, config.settings) : undefined;
      if (compiled?.plan) plans.push(compiled.plan);
    }
    for (const containment of this.plans.newDescriptions(plans))
      this.logger.info({ containment }, 'task containment');
    return plans;
  }

  /** Port the REST API listens on, once started (0 = off). */
  get httpPort(): number {
    return this.server?.port ?? 0;
  }

  /** What the REST handlers may read and do. */
  apiContext(): ApiContext {
    return daemonApi({
      config: () => this.config,
      nodes: () => this.nodes.current(this.config.settings),
      scheduler: this.scheduler,
      statuses: this.statuses,
      errors: this.errors,
      histograms: this.histograms,
      runner: this.runner,
      metrics: this.metrics,
      logStore: this.logStore,
      configWriter: this.configWriter,
      allowCommand: this.options.http?.allowCommand ?? false,
      requestPass: () => this.requestPass(0),
      leadership: () => this.leadership(),
      ...(this.cluster
        ? {
            workers: () => workerRows(this.cluster!.storage.pool),
            workersAvailable: () =>
              this.runner instanceof RemoteRunner ? this.runner.available() : new Map(),
          }
        : {}),
    });
  }

  /** Role on a shared database; undefined for an embedded (SQLite) scheduler, which always leads. */
  leadership(): Leadership | undefined {
    if (!this.cluster) return undefined;
    const leader = this.cluster.leader();
    return {
      leads: this.cluster.leads,
      term: leader?.term,
      leader: leader && { name: leader.name, apiUrl: leader.apiUrl },
    };
  }

  /** The config in force (the last good one). */
  get config(): Config {
    return this.configLoader.current().config;
  }

  /** Loads state, kills leftovers of a previous instance, then starts scheduling. */
  async start(): Promise<void> {
    // A shared store's statuses are loaded by whoever leads (and reloaded by standbys).
    if (this.cluster) await this.cluster.open();
    const loaded =
      this.options.dryRun || this.options.benchmarkRun || this.cluster
        ? 0
        : await this.storage.load(this.statuses);
    const settings = this.config.settings;
    this.logger.info(
      {
        config: this.configLoader.description,
        dataDir: this.options.dataDir,
        instance: this.identity?.id,
        statuses: loaded,
      },
      'scheduler starting',
    );
    this.metrics.configLoaded(true);
    logConfigLoaded(this.logger, this.config, this.config, this.configLoader.current().generation);
    if (!settings.enabled)
      this.logger.warn('bistro_settings.enabled is false: no task will start until it is set to true');
    for (const warning of this.containment.warnings) this.logger.warn(warning);
    let choices: ContainmentChoice[] = [];
    if (!(this.options.dryRun || this.options.benchmarkRun)) {
      const plans = this.logContainment(this.config);
      choices = [...new Map(plans.map((plan) => [plan.description, plan.containment])).values()];
      const report = await recoverLeftovers(
        this.storage.launchRecords,
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
    this.warnAboutRunnerMode(this.config);
    await this.nodes.refresh();
    await this.startServer();
    if (this.cluster) await this.startCluster(this.cluster, choices);
    this.configLoader.start(this.options.configUpdateMs ?? 10_000);
    this.pruner.start();
    if (!this.stopping) this.pacer.start();
  }

  private async startCluster(cluster: Cluster, choices: readonly ContainmentChoice[]): Promise<void> {
    const runner = this.runner;
    if (runner instanceof RemoteRunner) {
      await cluster.start(this.clusterHooks(), [], this.apiUrl());
      runner.watchCompletions();
      this.completions?.start();
      return;
    }
    if (!(runner instanceof LocalRunner)) throw new DatabaseError('--database needs the local runner');
    const uncontained = choices.find((choice) => choice.kind === 'none');
    if (uncontained?.kind === 'none')
      throw new DatabaseError(
        `with --database, tasks must run in cgroups (the watchdog kills them by cgroup): ${uncontained.reason}`,
      );
    await cluster.start(
      {
        ...this.clusterHooks(),
        killAllNow: (reason) => runner.killAllNow(reason),
        reconcile: (rows, readAt) => runner.reconcile(rows, readAt),
      },
      choices.flatMap(taskCgroupRoots),
      this.apiUrl(),
    );
  }

  private apiUrl(): string | undefined {
    return this.server ? apiUrlOf(this.options.http!.address, this.server.port) : undefined;
  }

  /** What the cluster tells the daemon; a scheduler with the local runner adds its worker's hooks. */
  private clusterHooks(): ClusterHooks {
    return {
      statuses: this.statuses,
      configHash: () => this.configLoader.current().hash,
      onLead: (inherited) => {
        this.inheritedUnderOtherConfig = inherited;
        this.requestPass(0);
      },
      killAllNow: () => undefined,
      reconcile: () => undefined,
      onTasksLost: (tasks) => {
        for (const { task } of tasks) {
          this.statuses.recordFinish(
            task.job,
            task.node,
            task.invocationId,
            { bits: B.ERROR | B.USES_BACKOFF, data: { exception: WORKER_LOST_MESSAGE } },
            Date.now() / 1000,
          );
          this.logStore.append(
            'statuses',
            task.job,
            task.node,
            JSON.stringify({
              event: 'worker_lost',
              invocation_id: task.invocationId,
              worker: task.workerShard,
            }),
          );
        }
        this.requestPass(0);
      },
      onWorkersJoined: () => this.requestPass(0),
      onLateStatus: ({ task, status }) => {
        this.logger.warn(
          { job: task.job, node: task.node, invocationId: task.invocationId },
          'late status dropped: the task had been declared lost',
        );
        this.logStore.append(
          'statuses',
          task.job,
          task.node,
          JSON.stringify({ event: 'late_status', invocation_id: task.invocationId, status }),
        );
      },
    };
  }

  private async startServer(): Promise<void> {
    const http = this.options.http;
    if (!http || http.port === 0) return;
    this.server = await startApiServer(http, this.apiContext(), this.metrics, this.logger);
    // Where to look, for whoever just started it.
    const ui = `${apiUrlOf(http.address, this.server.port)}/`;
    const state = this.cluster ? 'the database' : this.options.dataDir;
    this.logger.info(
      { ui, dataDir: this.options.dataDir },
      `web UI at ${ui}; statuses and task logs in ${state}`,
    );
  }

  /** Runs one pass now and applies its decisions. */
  runPass(): PassResult | undefined {
    return this.pass.run();
  }

  /** The last pass's result. */
  get lastPass(): PassResult | undefined {
    return this.pass.last;
  }

  /** Schedules a pass in `delayMs` unless one is due sooner. */
  requestPass(delayMs: number): void {
    this.pacer.request(delayMs);
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
    await this.configLoader.stop();
    this.nodes.stop();
    // A standby takes over at once; our tasks stay rows of our worker until their statuses land.
    await this.cluster?.stopLeading();
    await this.completions?.stop();
    this.logger.info({ running: this.statuses.runningCount }, 'stopping: killing every running task');
    const abandoned = await stopAllTasks(this.runner, this.config, {
      graceMs: this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
      escalated: this.escalated,
      logger: this.logger,
    });
    await this.server?.close();
    if (this.cluster) await this.cluster.close(abandoned.length > 0);
    else await this.storage.close();
    const kept = await this.containment.removeInstanceCgroups();
    if (kept.length > 0)
      this.logger.warn({ cgroups: kept }, "this instance's cgroup sub-tree is not empty; left in place");
    this.identity?.release();
    // Lowering a priority back is always allowed; it matters to a process that hosts another daemon later.
    if (this.priority && this.priority.schedulerNice !== this.priority.taskNice)
      setProcessNice(this.priority.taskNice);
    this.logger.info({ abandoned: abandoned.length }, 'scheduler stopped');
    return { abandoned };
  }
}
