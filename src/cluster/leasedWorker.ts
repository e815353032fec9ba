/**
 * A process that runs tasks under a worker lease (a `bistro worker`, or a
 * scheduler with the local runner and --database): the watchdog over its
 * task cgroups and process groups, started first, and the lease armed into
 * it after every renewal. No task may start unless `mayStart()`.
 */
import type { KillRequest } from '../config/killRequest.js';
import type { Logger } from '../logging/logger.js';
import { DatabaseError } from '../store/postgres/connection.js';
import { Watchdog } from '../supervisor/watchdog.js';
import { boottimeMs } from './leaseTiming.js';
import { WorkerLease, type OwnRow } from './workerLease.js';

export interface LeasedWorkerOptions {
  readonly url: string;
  readonly name: string;
  readonly host: string;
  readonly ttlMs: number;
  readonly killBoundMs: number;
  /** What the worker reports (usable CPU cores and RAM). */
  readonly resources?: Record<string, unknown>;
  /** A `bistro worker` (the leader may dispatch to it); false for a scheduler's own tasks. */
  readonly takesDispatch: boolean;
  /** The channel its dispatches and kill requests are notified on (a `bistro worker`). */
  readonly channel?: string;
  /** Task cgroup sub-trees the watchdog empties when it fires. */
  readonly cgroupDirs: readonly string[];
  readonly logger: Logger;
  /** The lease is lost, or the watchdog is gone: SIGKILL every task now. */
  readonly killAllNow: (reason: string) => void;
  /** This worker's rows, read at `readAt` (performance.now()). */
  readonly reconcile: (
    rows: ReadonlyMap<string, { readonly killRequest: KillRequest | undefined }>,
    readAt: number,
  ) => void;
}

export class LeasedWorker {
  private constructor(
    readonly watchdog: Watchdog,
    readonly lease: WorkerLease,
    private readonly stopping: { value: boolean },
  ) {}

  /** Starts the watchdog, then registers the first incarnation (throws if the database cannot be reached). */
  static async start(options: LeasedWorkerOptions): Promise<LeasedWorker> {
    const stopping = { value: false };
    const watchdog = Watchdog.start({
      cgroups: options.cgroupDirs,
      onExit: (code, stderr) => {
        if (stopping.value) return;
        options.logger.error({ code, stderr }, 'the worker watchdog exited; no task starts from now on');
        options.killAllNow('watchdog gone');
      },
    });
    options.logger.info({ pid: watchdog.pid, cgroups: options.cgroupDirs }, 'worker watchdog started');
    const lease = new WorkerLease({
      url: options.url,
      name: options.name,
      host: options.host,
      ttlMs: options.ttlMs,
      killBoundMs: options.killBoundMs,
      resources: options.resources ?? {},
      takesDispatch: options.takesDispatch,
      channel: options.channel,
      watchdog,
      logger: options.logger,
      onLost: (reason) => options.killAllNow(`worker lease lost: ${reason}`),
      onRows: (rows: readonly OwnRow[], sentAt: number) => {
        options.reconcile(
          new Map(
            rows.map((row) => [
              row.invocationId,
              { killRequest: (row.killRequest ?? undefined) as KillRequest | undefined },
            ]),
          ),
          // The renewal's send time on performance.now()'s clock.
          performance.now() - (boottimeMs() - sentAt),
        );
      },
    });
    const worker = new LeasedWorker(watchdog, lease, stopping);
    try {
      await lease.start();
    } catch (error) {
      stopping.value = true;
      await watchdog.stop();
      throw new DatabaseError(`cannot register the worker: ${(error as Error).message}`, { cause: error });
    }
    return worker;
  }

  get incarnation(): string | undefined {
    return this.lease.incarnation;
  }

  /** A fresh lease the watchdog acknowledged. */
  mayStart(): boolean {
    return this.lease.mayStart();
  }

  /** A task's process group appears or ends: the watchdog kills the live ones when it fires. */
  processGroup(pgid: number, alive: boolean): void {
    if (alive) this.watchdog.addProcessGroup(pgid);
    else this.watchdog.removeProcessGroup(pgid);
  }

  addCgroup(dir: string): void {
    this.watchdog.addCgroup(dir);
  }

  /** Deregisters (only when nothing runs) and stops the watchdog (only then too). */
  async stop(hasLiveTasks: boolean): Promise<void> {
    this.stopping.value = true;
    await this.lease.stop(hasLiveTasks);
    if (!hasLiveTasks) await this.watchdog.stop();
  }
}
