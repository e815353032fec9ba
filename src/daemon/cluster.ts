/**
 * A scheduler on PostgreSQL (--database): its state in the database, its
 * leadership (one leader per database; the others stand by and answer
 * reads from the database), and its own tasks under a worker lease with a
 * watchdog, so that no task can outlive the lease it runs under.
 *
 * Losing leadership stops dispatching only: running tasks go on and report
 * normally. Losing the worker lease SIGKILLs them, because the leader will
 * declare them lost and may run them again.
 */
import type { Logger } from '../logging/logger.js';
import { LeaderLease, type LeaderInfo } from '../cluster/leaderLease.js';
import { leaderMarginMs, leaseProblem, workerMarginMs } from '../cluster/leaseTiming.js';
import { LeasedWorker } from '../cluster/leasedWorker.js';
import { usableResources } from '../cluster/usableResources.js';
import { WorkerLossMonitor, type LostTask } from '../cluster/workerLossMonitor.js';
import type { KillRequest } from '../config/killRequest.js';
import type { RunningTask } from '../statuses/runningTask.js';
import type { LaunchPlan } from '../supervisor/launchPlan.js';
import type { KillOutcome } from '../supervisor/taskSpec.js';
import { taskCgroupRoots } from './clusterAddresses.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import { DatabaseError } from '../store/postgres/connection.js';
import { PgStorage } from '../store/postgres/pgStorage.js';
import type { Completion } from '../store/postgres/pgStatusStore.js';
import type { StoreHealth } from '../store/storeHealth.js';
import type { WorkerCandidate } from '../scheduler/workerPlacement.js';
import type { RemoteTaskSpec } from '../runners/remoteTaskSpec.js';

/** How often a standby reloads statuses and running tasks from the database. */
const STANDBY_REFRESH_MS = 1000;

export interface ClusterOptions {
  readonly url: string;
  readonly dataDir: string;
  readonly workerName: string;
  readonly host: string;
  readonly leaderLeaseMs: number;
  readonly workerLeaseMs: number;
  readonly killBoundMs: number;
  readonly logger: Logger;
  readonly health: StoreHealth;
  /** `remote`: tasks run on workers; this scheduler holds none, so it needs no worker lease or watchdog. */
  readonly runner?: 'local' | 'remote';
}

/** What the cluster needs from the rest of the daemon. */
export interface ClusterHooks {
  readonly statuses: TaskStatuses;
  /** The hash of the config in force (the leader records it; see onLead). */
  readonly configHash: () => string;
  /**
   * Leading from now on: run a pass soon. `inherited` are the invocations
   * running when a leader with another config handed over (not this
   * process's): no orphan kill may judge them by this config.
   */
  readonly onLead: (inherited: ReadonlySet<string>) => void;
  /** The worker lease is lost: SIGKILL every task now. */
  readonly killAllNow: (reason: string) => void;
  /** This worker's rows, read at `readAt` (performance.now()). */
  readonly reconcile: (
    rows: ReadonlyMap<string, { readonly killRequest: KillRequest | undefined }>,
    readAt: number,
  ) => void;
  /** Tasks of a lost worker, now error_backoff in the database. */
  readonly onTasksLost: (tasks: readonly LostTask[]) => void;
  /** A worker may take tasks that could not before (registered, or seen first as leader). */
  readonly onWorkersJoined: () => void;
  /** A completion found its row gone. */
  readonly onLateStatus: (completion: Completion) => void;
}

export class Cluster {
  readonly storage: PgStorage;
  private leaderLease: LeaderLease | undefined;
  private worker: LeasedWorker | undefined;
  private loss: WorkerLossMonitor | undefined;
  private standbyTimer: NodeJS.Timeout | undefined;
  private refreshing = false;
  /** Giving the lease up at a stop: no standby reload from then on. */
  private leaving = false;
  private stopped = false;

  constructor(private readonly options: ClusterOptions) {
    const problem =
      leaseProblem('--leader-lease-sec', options.leaderLeaseMs, leaderMarginMs(options.leaderLeaseMs)) ??
      leaseProblem(
        '--worker-lease-sec',
        options.workerLeaseMs,
        workerMarginMs(options.workerLeaseMs, options.killBoundMs),
      );
    if (problem) throw new DatabaseError(problem);
    this.storage = PgStorage.create({
      url: options.url,
      dataDir: options.dataDir,
      health: options.health,
      term: () => this.leaderLease?.term,
      incarnation: () => this.worker?.incarnation,
      queryTimeoutMs: Math.min(10_000, options.workerLeaseMs / 3),
      ...(options.runner === 'remote' ? {} : { worker: options.workerName }),
    });
  }

  /** Leading now (takeover committed, state loaded, lease fresh). */
  get leads(): boolean {
    return this.leaderLease?.leads ?? false;
  }

  get term(): number | undefined {
    return this.leaderLease?.term;
  }

  get incarnation(): string | undefined {
    return this.worker?.incarnation;
  }

  get url(): string {
    return this.options.url;
  }

  get remote(): boolean {
    return this.options.runner === 'remote';
  }

  /** Whether a task may start now: leading, with a fresh worker lease the watchdog acknowledged. */
  mayStart(): boolean {
    if (this.remote) return this.leads;
    return this.leads && (this.worker?.mayStart() ?? false);
  }

  /** Workers a remote task may be placed on (as this leader last saw them). */
  healthyWorkers(): readonly WorkerCandidate[] {
    return this.leads ? (this.loss?.healthyWorkers() ?? []) : [];
  }

  /** Inserts a remote task's row for a worker's incarnation (fenced by this leader's term). */
  dispatchRemote(task: RunningTask, incarnation: string, spec: RemoteTaskSpec): Promise<void> {
    const term = this.term;
    if (term === undefined) return Promise.reject(new Error('not the leader'));
    return this.storage.statuses.dispatch({ task, incarnation, spec }, term);
  }

  /** A task's process group appears or ends: the watchdog kills the live ones when it fires. */
  processGroup(pgid: number, alive: boolean): void {
    this.worker?.processGroup(pgid, alive);
  }

  /**
   * Asks the worker that runs `task` (not this process) to kill it: a fenced
   * kill request on its row, applied at that worker's next renewal.
   */
  requestKill(task: RunningTask, request: KillRequest, reason: string): KillOutcome {
    const term = this.term;
    if (term === undefined)
      return { ok: false, reason: 'unknown_task', message: 'not the leader: cannot send a kill' };
    const fields = { job: task.job, node: task.node, invocationId: task.invocationId, reason };
    this.storage.statuses
      .requestKill(task.invocationId, request, term)
      .catch((error: unknown) =>
        this.options.logger.warn({ ...fields, err: error }, 'could not record a kill request'),
      );
    this.options.logger.info(fields, 'kill requested from the worker running the task');
    return { ok: true, message: `Kill of ${task.invocationId} requested from the worker running it` };
  }

  /**
   * Task cgroups of launch plans made after the start (a config change): the
   * watchdog empties them too. A plan without cgroups is reported: the watchdog
   * can reach its tasks only by process group.
   */
  watchTaskCgroups(plans: readonly LaunchPlan[]): void {
    for (const plan of plans) {
      if (plan.containment.kind === 'none')
        this.options.logger.error(
          { containment: plan.description },
          'with --database, tasks should run in cgroups: the watchdog reaches these only by process group',
        );
      for (const dir of taskCgroupRoots(plan.containment)) this.worker?.addCgroup(dir);
    }
  }

  leader(): LeaderInfo | undefined {
    return this.leaderLease?.leader();
  }

  /** Migrates the schema; a database that cannot be reached or is too new is an error here. */
  async open(): Promise<void> {
    try {
      await this.storage.migrate();
    } catch (error) {
      if (error instanceof DatabaseError) throw error;
      throw new DatabaseError(`cannot use the database: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Starts the watchdog (over the task cgroup sub-trees) and registers this
   * process as a worker; then leads or stands by.
   */
  async start(hooks: ClusterHooks, cgroupDirs: readonly string[], apiUrl: string | undefined): Promise<void> {
    const { options } = this;
    this.storage.statuses.events = {
      onLateStatus: hooks.onLateStatus,
      onFencedOut: (term) => this.leaderLease?.fencedOut(term),
    };
    if (!this.remote) await this.startWorker(hooks, cgroupDirs);
    const loss = new WorkerLossMonitor(
      this.storage.pool,
      options.logger,
      hooks.onTasksLost,
      hooks.onWorkersJoined,
    );
    this.loss = loss;
    this.leaderLease = new LeaderLease({
      url: options.url,
      ttlMs: options.leaderLeaseMs,
      holderName: options.workerName,
      ...(apiUrl ? { apiUrl } : {}),
      logger: options.logger,
      configHash: hooks.configHash,
      onLead: async (_term, previousConfigHash) => {
        // Our own completions first, then the state every scheduler wrote.
        await this.storage.drain();
        const { running } = await this.storage.statuses.loadStatuses(hooks.statuses);
        const differs = previousConfigHash !== null && previousConfigHash !== hooks.configHash();
        const ours = this.worker?.incarnation;
        const inherited = differs
          ? new Set(running.filter((row) => row.incarnation !== ours).map((row) => row.task.invocationId))
          : new Set<string>();
        if (inherited.size > 0)
          options.logger.warn(
            { tasks: inherited.size },
            'the previous leader ran another config: its running tasks are not killed as orphans under this one',
          );
        hooks.onLead(inherited);
      },
      onStepDown: () => this.refreshStandby(hooks.statuses),
      whileLeading: (term) => loss.check(term),
    });
    this.leaderLease.start();
    this.scheduleStandbyRefresh(hooks.statuses);
  }

  /** The worker side: the watchdog over this process's task cgroups, and the worker lease. */
  private async startWorker(hooks: ClusterHooks, cgroupDirs: readonly string[]): Promise<void> {
    const { options } = this;
    this.worker = await LeasedWorker.start({
      url: options.url,
      name: options.workerName,
      host: options.host,
      ttlMs: options.workerLeaseMs,
      killBoundMs: options.killBoundMs,
      resources: { ...usableResources() },
      takesDispatch: false,
      cgroupDirs,
      logger: options.logger,
      killAllNow: (reason) => {
        if (!this.stopped) hooks.killAllNow(reason);
      },
      reconcile: hooks.reconcile,
    });
  }

  private scheduleStandbyRefresh(statuses: TaskStatuses): void {
    if (this.leaving) return;
    this.standbyTimer = setTimeout(() => {
      void this.refreshStandby(statuses).finally(() => this.scheduleStandbyRefresh(statuses));
    }, STANDBY_REFRESH_MS);
    this.standbyTimer.unref();
  }

  private async refreshStandby(statuses: TaskStatuses): Promise<void> {
    if (this.leaderLease?.leads || this.refreshing || this.leaving) return;
    this.refreshing = true;
    try {
      await this.storage.load(statuses);
    } catch (error) {
      this.options.logger.debug({ err: error }, 'standby: could not reload state');
    } finally {
      this.refreshing = false;
    }
  }

  /** Gives the leader lease up (a standby takes over at once). */
  async stopLeading(): Promise<void> {
    this.leaving = true;
    if (this.standbyTimer) clearTimeout(this.standbyTimer);
    await this.leaderLease?.stop();
  }

  /** After the tasks are gone: writes what is queued, deregisters, stops the watchdog, closes. */
  async close(hasLiveTasks: boolean): Promise<void> {
    this.stopped = true;
    await this.stopLeading();
    const drained = await this.storage.drain(5000);
    if (!drained) this.options.logger.error('could not write every status to the database before stopping');
    await this.worker?.stop(hasLiveTasks);
    await this.storage.close();
  }
}
