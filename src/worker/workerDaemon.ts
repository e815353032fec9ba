/**
 * `bistro worker`: one per host. It registers an incarnation under a
 * worker lease (with the watchdog), reports its usable CPU cores and RAM,
 * claims the rows the leader dispatched to it (woken by a notification,
 * and on a timer), and runs each task with the same supervisor,
 * containment, task protocol, log capture and restart recovery as the
 * local runner -- the LocalRunner itself, fed from the row's spec. The
 * completion is the one statement keyed by invocation id. Kill requests
 * are applied when notified and at every renewal; a task whose row
 * vanished is killed at once.
 *
 * SIGTERM: stop claiming, kill every task with its job's kill request,
 * store their statuses, deregister.
 */
import { hostname } from 'node:os';
import { parseConfig, type Config } from '../config/config.js';
import { DEFAULT_KILL_REQUEST, type KillRequest } from '../config/killRequest.js';
import type { Logger } from '../logging/logger.js';
import { LeasedWorker } from '../cluster/leasedWorker.js';
import { leaseProblem, workerMarginMs } from '../cluster/leaseTiming.js';
import { LaunchPlans } from '../runners/launchPlans.js';
import type { LaunchInput, LocalRunner } from '../runners/localRunner.js';
import { RemoteLaunches, RemoteTaskSpecError } from '../runners/remoteTaskSpec.js';
import { StatusBits as B } from '../statuses/taskStatus.js';
import { finalStatus } from '../statuses/backoff.js';
import { TaskStatuses } from '../statuses/taskStatuses.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { DatabaseError } from '../store/postgres/connection.js';
import { NotificationListener } from '../store/postgres/notificationListener.js';
import { workerDispatchChannel } from '../store/postgres/pgStatusStore.js';
import { Poller } from '../store/postgres/poller.js';
import { PgStorage } from '../store/postgres/pgStorage.js';
import {
  claimDispatched,
  claimDispatchedIds,
  killRequestedRows,
  type ClaimedTask,
} from '../store/postgres/remoteTasks.js';
import { StoreHealth } from '../store/storeHealth.js';
import { ContainmentFactory } from '../supervisor/containment/containmentFactory.js';
import { claimInstance, type InstanceIdentity } from '../daemon/instanceIdentity.js';
import { recoverLeftovers } from '../daemon/recovery.js';
import { createRunner } from '../daemon/runnerFactory.js';
import { DEFAULT_STOP_GRACE_MS, stopTasks } from '../daemon/shutdown.js';
import { taskCgroupRoots } from '../daemon/clusterAddresses.js';
import type { AbandonedTask } from '../runners/runner.js';
import { usableResources } from '../cluster/usableResources.js';
import { seededRandom } from '../scheduler/random.js';

/** How often a worker looks for dispatched rows when no notification came. */
const CLAIM_POLL_MS = 1000;
/** Rows claimed per look: a burst is taken in a few statements. */
const CLAIM_BATCH = 256;

export interface WorkerOptions {
  readonly url: string;
  readonly name: string;
  readonly dataDir: string;
  readonly workerLeaseMs: number;
  readonly killBoundMs: number;
  readonly logger: Logger;
  /** The command for jobs without one (`--worker-command`). */
  readonly workerCommand?: string;
  readonly instanceId?: string;
  readonly identityLockDir?: string;
  readonly priorityBoost?: number;
  readonly stopGraceMs?: number;
}

/** The worker has no config of its own: every task brings its options in its spec. */
let noConfig: Config | undefined;
function workerConfig(): Config {
  noConfig ??= parseConfig({ bistro_settings: { nodes: { levels: [], node_sources: [] }, resources: {} } });
  return noConfig;
}

interface Pending {
  claims: boolean;
  readonly ids: Set<string>;
  kills: boolean;
}

function emptyPending(): Pending {
  return { claims: false, ids: new Set(), kills: false };
}

export class WorkerDaemon {
  readonly identity: InstanceIdentity;
  readonly storage: PgStorage;
  /** Only what runs here: the statuses are the database's. */
  private readonly statuses = TaskStatuses.runningOnly();
  private readonly containment: ContainmentFactory;
  private readonly runner: LocalRunner;
  private readonly launches: RemoteLaunches;
  private readonly host = hostname();
  /** Where the leader notifies this process of its dispatches and kill requests. */
  private readonly channel = workerDispatchChannel();
  private leased: LeasedWorker | undefined;
  private listener: NotificationListener | undefined;
  private readonly poller = new Poller(
    () => this.look(),
    CLAIM_POLL_MS,
    (error) => this.options.logger.warn({ err: error }, 'could not read dispatched tasks'),
  );
  /**
   * What the next look does: claim what waits for this incarnation
   * (`claims`), claim the rows a dispatch notice named (`ids`), apply kill
   * requests.
   */
  private pending: Pending = emptyPending();
  private stopping: Promise<AbandonedTask[]> | undefined;
  private escalateStop: () => void = () => undefined;
  private readonly escalated = new Promise<void>((resolve) => (this.escalateStop = resolve));
  /** Each running task's kill request (its job's, from the spec) and dispatch time. */
  private readonly taskInfo = new Map<
    string,
    { killRequest: KillRequest; dispatchedAtMs: number; claimedAtMs: number }
  >();
  private readonly watchedCgroups = new Set<string>();

  constructor(private readonly options: WorkerOptions) {
    const problem = leaseProblem(
      '--worker-lease-sec',
      options.workerLeaseMs,
      workerMarginMs(options.workerLeaseMs, options.killBoundMs),
    );
    if (problem) throw new DatabaseError(problem);
    // First: a second worker on this data dir must stop here.
    this.identity = claimInstance(options.dataDir, options.instanceId, options.identityLockDir);
    this.containment = new ContainmentFactory(undefined, { instance: this.identity.id });
    const health = new StoreHealth({
      onChange: (store, failure) =>
        failure
          ? options.logger.error({ store, problem: failure }, 'the database cannot be written; retrying')
          : options.logger.info({ store }, 'the database is written again'),
    });
    this.storage = PgStorage.create({
      url: options.url,
      dataDir: options.dataDir,
      health,
      term: () => undefined,
      incarnation: () => this.leased?.incarnation,
      queryTimeoutMs: Math.min(10_000, options.workerLeaseMs / 3),
      worker: options.name,
    });
    const context = {
      workerCommand: options.workerCommand ? [options.workerCommand] : [],
      instanceNode: options.name,
      hostname: this.host,
    };
    this.launches = new RemoteLaunches(this.containment, context);
    const { runner } = createRunner({
      dataDir: options.dataDir,
      workerCommand: options.workerCommand,
      instanceName: options.name,
      priorityBoost: options.priorityBoost,
      statuses: this.statuses,
      statusStore: this.storage.state,
      logStore: this.storage.logs,
      containment: this.containment,
      plans: new LaunchPlans(this.containment),
      random: seededRandom(Date.now() & 0xffffffff),
      logger: options.logger,
      config: workerConfig,
      onComplete: (finished) => {
        this.taskInfo.delete(finished.invocationId);
      },
      onProcessGroup: (pgid, alive) => this.leased?.processGroup(pgid, alive),
      startedFields: (task, started) => this.startedFields(task, started.startedAtMs),
    });
    this.runner = runner as LocalRunner;
  }

  /** Recovers what a previous run left, registers, and starts claiming. */
  async start(): Promise<void> {
    const { options } = this;
    await this.storage.migrate();
    const settingsPlan = new LaunchPlans(this.containment).forSettings(workerConfig().settings);
    if (settingsPlan.containment.kind === 'none')
      throw new DatabaseError(
        `a worker's tasks must run in cgroups (the watchdog kills them by cgroup): ${settingsPlan.containment.reason}`,
      );
    for (const warning of this.containment.warnings) options.logger.warn(warning);
    const report = await recoverLeftovers(
      this.storage.launchRecords,
      this.storage.state,
      this.statuses,
      this.storage.logs,
      [settingsPlan.containment],
      options.logger,
    );
    if (report.recordsChecked > 0) options.logger.warn({ ...report }, 'restart recovery finished');
    const cgroupDirs = taskCgroupRoots(settingsPlan.containment);
    for (const dir of cgroupDirs) this.watchedCgroups.add(dir);
    const resources = usableResources();
    this.leased = await LeasedWorker.start({
      url: options.url,
      name: options.name,
      host: this.host,
      ttlMs: options.workerLeaseMs,
      killBoundMs: options.killBoundMs,
      resources: { ...resources },
      takesDispatch: true,
      channel: this.channel,
      cgroupDirs,
      logger: options.logger,
      killAllNow: (reason) => this.runner.killAllNow(reason),
      reconcile: (rows, readAt) => this.runner.reconcile(rows, readAt),
    });
    options.logger.info(
      { worker: options.name, host: this.host, instance: this.identity.id, ...resources },
      'worker started',
    );
    this.listener = new NotificationListener(
      options.url,
      this.channel,
      (payload) => this.notified(payload),
      options.logger,
    );
    this.listener.start();
    this.poller.start();
  }

  get incarnation(): string | undefined {
    return this.leased?.incarnation;
  }

  /**
   * A notification: rows dispatched to this incarnation (`<incarnation>:<ids>`,
   * or the incarnation alone), or a kill request (`kill:`); none at a
   * (re)connect.
   */
  private notified(payload: string | undefined): void {
    const incarnation = this.leased?.incarnation;
    if (payload === undefined || incarnation === undefined) this.wake({ claims: true, kills: true });
    else if (payload === incarnation) this.wake({ claims: true });
    else if (payload.startsWith(`${incarnation}:`))
      this.wake({ ids: payload.slice(incarnation.length + 1).split(',') });
    else if (payload === `kill:${incarnation}`) this.wake({ kills: true });
  }

  /** Claims dispatched rows and applies kill requests now (both by default). */
  wake(
    what: { claims?: boolean; ids?: readonly string[]; kills?: boolean } = { claims: true, kills: true },
  ): void {
    this.pending.claims ||= what.claims ?? false;
    this.pending.kills ||= what.kills ?? false;
    for (const id of what.ids ?? []) {
      // Past a batch, the look claims whatever waits instead.
      if (this.pending.ids.size < CLAIM_BATCH) this.pending.ids.add(id);
      else this.pending.claims = true;
    }
    this.poller.wake();
  }

  /** One look: what was asked for since the last (everything on the timer). */
  private async look(): Promise<void> {
    const asked = this.pending;
    this.pending = emptyPending();
    const what =
      asked.claims || asked.kills || asked.ids.size > 0 ? asked : { ...asked, claims: true, kills: true };
    const leased = this.leased;
    const incarnation = leased?.incarnation;
    if (!leased || incarnation === undefined) return;
    if (what.kills) await this.applyKillRequests(incarnation);
    // No fresh, acknowledged lease: leave the rows dispatched (the leader declares them lost if it lasts).
    if (!leased.mayStart()) return;
    if (what.claims) {
      const claimed = await claimDispatched(this.storage.pool, incarnation, CLAIM_BATCH);
      for (const row of claimed) this.run(row);
      // More may wait: look again right after this one.
      if (claimed.length === CLAIM_BATCH) this.wake({ claims: true });
    } else if (what.ids.size > 0) {
      // By key: a look through every row of this incarnation visits each one it completed since the last vacuum.
      for (const row of await claimDispatchedIds(this.storage.pool, incarnation, [...what.ids]))
        this.run(row);
    }
  }

  private run({ task, spec, killRequest: requested, dispatchedAtMs }: ClaimedTask): void {
    const { logger } = this.options;
    if (requested) {
      // Killed while it waited for this worker: it never starts.
      const report = {
        bits: B.INCOMPLETE | B.USES_BACKOFF,
        data: { exception: 'Task was killed before it started' },
      };
      this.storage.statuses.complete(task, finalStatus(report, task.backoff, Date.now() / 1000));
      return;
    }
    let input: LaunchInput;
    let killRequest: KillRequest = DEFAULT_KILL_REQUEST;
    let token: string | undefined;
    try {
      const launch = this.launches.inputFor(task.invocationId, task.job, spec);
      input = launch;
      killRequest = launch.killRequest;
      token = launch.completionToken;
      const plan = launch.plan();
      // The watchdog must reach the task's cgroups before the task exists.
      for (const dir of taskCgroupRoots(plan.containment))
        if (!this.watchedCgroups.has(dir)) {
          this.watchedCgroups.add(dir);
          this.leased?.addCgroup(dir);
        }
    } catch (error) {
      if (!(error instanceof RemoteTaskSpecError)) throw error;
      // The runner reports the failure to start as the task's status.
      input = {
        argv: () => {
          throw error;
        },
        plan: () => {
          throw error;
        },
      };
    }
    this.taskInfo.set(task.invocationId, { killRequest, dispatchedAtMs, claimedAtMs: Date.now() });
    logger.debug({ job: task.job, node: task.node, invocationId: task.invocationId }, 'task claimed');
    this.runner.run(token === undefined ? task : { ...task, completionToken: token }, input);
  }

  /** Kill requests on this incarnation's rows; a row killed before it was claimed completes here. */
  private async applyKillRequests(incarnation: string): Promise<void> {
    const rows = await killRequestedRows(this.storage.pool, incarnation);
    for (const { invocationId, killRequest } of rows)
      if (this.runner.has(invocationId))
        this.runner.applyKillRequest(invocationId, killRequest as KillRequest);
  }

  /**
   * The worker's name and how long the task waited from its dispatch
   * (database clock) to its process (cloned at `startedAtMs`).
   */
  private startedFields(task: RunningTask, startedAtMs: number): Record<string, unknown> {
    const info = this.taskInfo.get(task.invocationId);
    return {
      worker: this.options.name,
      ...(info
        ? {
            dispatch_latency_ms: Math.max(0, startedAtMs - info.dispatchedAtMs),
            claim_latency_ms: Math.max(0, info.claimedAtMs - info.dispatchedAtMs),
          }
        : {}),
    };
  }

  /** SIGTERM: stop claiming, kill every task with its kill request, store their statuses, deregister. */
  stop(): Promise<AbandonedTask[]> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** A second signal: SIGKILL every task now. */
  escalate(): void {
    this.escalateStop();
  }

  private async doStop(): Promise<AbandonedTask[]> {
    const { logger } = this.options;
    await this.listener?.stop();
    await this.poller.stop();
    logger.info({ running: this.runner.runningCount }, 'worker stopping: killing every running task');
    const requests = [...this.taskInfo.values()].map((info) => info.killRequest);
    const abandoned = await stopTasks(
      this.runner,
      (task) => this.taskInfo.get(task.invocationId)?.killRequest ?? DEFAULT_KILL_REQUEST,
      requests,
      {
        graceMs: this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
        escalated: this.escalated,
        logger,
      },
    );
    const drained = await this.storage.drain(5000);
    if (!drained) logger.error('could not write every status to the database before stopping');
    await this.leased?.stop(abandoned.length > 0 || !drained);
    await this.storage.close();
    const kept = await this.containment.removeInstanceCgroups();
    if (kept.length > 0)
      logger.warn({ cgroups: kept }, "this worker's cgroup sub-tree is not empty; left in place");
    this.identity.release();
    logger.info({ abandoned: abandoned.length }, 'worker stopped');
    return abandoned;
  }
}
