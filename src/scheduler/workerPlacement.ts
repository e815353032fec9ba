/**
 * Which worker runs a task (remote runner), as Bistro places them: each
 * healthy worker has a capacity of every worker-level resource (the
 * configured `limit`, replaced by what `physical_resources` make of the
 * CPU cores and RAM the worker reported, then by `worker_resources_override`
 * for its host or name), minus what its running tasks hold. A task goes to
 * a worker where everything it needs fits, on its required host
 * (`host_placement`, or the name of its node's ancestor at
 * `level_for_host_placement`) and passing the job's `filters.worker` (on
 * the worker's host name). `roundrobin` walks the workers from after the
 * last pick; `busiest` picks the one with the least weighted room left.
 *
 * Pure: the runner builds one per pass from the workers and running tasks.
 */
import type { Job } from '../config/job.js';
import type { PhysicalResourceName } from '../config/physicalResources.js';
import type { ResourceDefinition } from '../config/resources.js';
import type { Settings } from '../config/settings.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { compileNodeFilter } from './eligibility.js';
import { setOwn } from '../text/ownKeys.js';

/** A healthy worker as the leader knows it. */
export interface WorkerCandidate {
  readonly name: string;
  readonly host: string;
  readonly incarnation: string;
  /** What it reported: usable CPU cores and RAM in MB (0 or absent: unknown). */
  readonly cpuCores?: number;
  readonly ramMb?: number;
}

export type Placement =
  | { readonly worker: WorkerCandidate; readonly charges: Readonly<Record<string, number>> }
  | {
      readonly worker?: undefined;
      /** `no_worker`: nobody can run anything (ends the pass's starts); `no_fit`: try other tasks. */
      readonly outcome: 'no_worker' | 'no_fit';
      readonly reason: string;
    };

const REPORTED: Record<PhysicalResourceName, (worker: WorkerCandidate) => number> = {
  cpu_core: (worker) => worker.cpuCores ?? 0,
  ram_mb: (worker) => worker.ramMb ?? 0,
  gpu_card: () => 0,
};

/** A worker's capacity of each worker-level resource, before running tasks are subtracted. */
export function workerCapacity(
  settings: Settings,
  resources: readonly ResourceDefinition[],
  worker: WorkerCandidate,
): Record<string, number> {
  const capacity: Record<string, number> = {};
  for (const resource of resources) setOwn(capacity, resource.name, resource.limit);
  for (const [name, mapping] of Object.entries(settings.physicalResources)) {
    if (!mapping || !Object.hasOwn(capacity, mapping.logicalResource)) continue;
    const physical = REPORTED[name as PhysicalResourceName](worker);
    // Zero means "not reported": the configured limit stands.
    if (physical <= 0) continue;
    capacity[mapping.logicalResource] = Math.max(
      0,
      Math.trunc((physical - mapping.physicalReserveAmount) / mapping.multiplyLogicalBy),
    );
  }
  const override =
    settings.workerResourcesOverride[worker.host] ?? settings.workerResourcesOverride[worker.name];
  if (override) Object.assign(capacity, override);
  return capacity;
}

/** The host a task must run on, if any: `host_placement`, else its ancestor at `level_for_host_placement`. */
export function requiredHost(job: Job, pathToNode: readonly string[]): string | undefined {
  if (job.hostPlacement !== '') return job.hostPlacement;
  const level = job.levelForHostPlacement;
  if (level === undefined || level < 0) return undefined;
  return pathToNode[level];
}

export class WorkerPlacement {
  private readonly resources: readonly ResourceDefinition[];
  private readonly room = new Map<string, Record<string, number>>();
  private readonly filters = new Map<string, ((name: string) => boolean) | undefined>();
  /** Problems found while charging running tasks, for the error registry. */
  readonly problems: string[] = [];

  constructor(
    private readonly settings: Settings,
    private readonly workers: readonly WorkerCandidate[],
    running: Iterable<RunningTask>,
    /** The worker picked last by `roundrobin` (its cursor survives passes). */
    private lastPick: string | undefined,
  ) {
    const workerLevel = settings.levels.length - 1;
    this.resources = settings.resources.filter((resource) => resource.levelId === workerLevel);
    for (const worker of workers)
      this.room.set(worker.name, workerCapacity(settings, this.resources, worker));
    for (const task of running) {
      const held = task.charges[task.workerShard];
      const room = this.room.get(task.workerShard);
      if (!held || !room) continue;
      for (const [name, amount] of Object.entries(held)) {
        if (room[name] === undefined) continue;
        room[name] -= amount;
        if (room[name] < 0)
          this.problems.push(`Resource ${name} is ${room[name]} on worker ${task.workerShard}`);
      }
    }
  }

  /** The worker `roundrobin` picked last. */
  get cursor(): string | undefined {
    return this.lastPick;
  }

  /** What each worker has left, by name (the `workers` handler shows it). */
  get available(): ReadonlyMap<string, Readonly<Record<string, number>>> {
    return this.room;
  }

  /** Picks and charges a worker for a task of `job` on the node at `pathToNode`. */
  place(job: Job, pathToNode: readonly string[]): Placement {
    if (this.workers.length === 0) return { outcome: 'no_worker', reason: 'no healthy worker is registered' };
    const host = requiredHost(job, pathToNode);
    const pool = host === undefined ? this.workers : this.workers.filter((w) => w.host === host);
    if (pool.length === 0)
      return { outcome: 'no_fit', reason: `no healthy worker on host ${host} (host placement)` };
    const needs = this.needsOf(job);
    const filter = this.filterOf(job);
    const fits = (worker: WorkerCandidate) =>
      (filter === undefined || filter(worker.host)) && this.fits(worker, needs);
    const chosen =
      this.settings.remoteWorkerSelector === 'busiest'
        ? this.busiest(pool, needs, fits)
        : this.roundRobin(pool, fits);
    if (!chosen) {
      const where = host === undefined ? '' : ` on host ${host}`;
      return { outcome: 'no_fit', reason: `waiting for worker resources${where}` };
    }
    const room = this.room.get(chosen.name)!;
    for (const [name, amount] of Object.entries(needs)) room[name] = room[name]! - amount;
    this.lastPick = chosen.name;
    return { worker: chosen, charges: needs };
  }

  private needsOf(job: Job): Record<string, number> {
    const needs: Record<string, number> = {};
    for (const resource of this.resources)
      setOwn(
        needs,
        resource.name,
        Object.hasOwn(job.resources, resource.name) ? job.resources[resource.name]! : resource.defaultAmount,
      );
    return needs;
  }

  private filterOf(job: Job): ((name: string) => boolean) | undefined {
    if (!this.filters.has(job.name)) {
      const filter = job.filters[this.settings.levels.at(-1)!];
      this.filters.set(job.name, filter ? compileNodeFilter(filter, job.name) : undefined);
    }
    return this.filters.get(job.name);
  }

  private fits(worker: WorkerCandidate, needs: Readonly<Record<string, number>>): boolean {
    const room = this.room.get(worker.name)!;
    for (const [name, amount] of Object.entries(needs)) if ((room[name] ?? 0) - amount < 0) return false;
    return true;
  }

  private roundRobin(
    pool: readonly WorkerCandidate[],
    fits: (worker: WorkerCandidate) => boolean,
  ): WorkerCandidate | undefined {
    const last = pool.findIndex((worker) => worker.name === this.lastPick);
    for (let i = 1; i <= pool.length; i++) {
      const worker = pool[(last + i) % pool.length]!;
      if (fits(worker)) return worker;
    }
    return undefined;
  }

  private busiest(
    pool: readonly WorkerCandidate[],
    needs: Readonly<Record<string, number>>,
    fits: (worker: WorkerCandidate) => boolean,
  ): WorkerCandidate | undefined {
    let best: WorkerCandidate | undefined;
    let bestLeft = Infinity;
    for (const worker of pool) {
      if (!fits(worker)) continue;
      const room = this.room.get(worker.name)!;
      let left = 0;
      for (const resource of this.resources)
        left += ((room[resource.name] ?? 0) - (needs[resource.name] ?? 0)) * resource.weight;
      if (left < bestLeft) {
        best = worker;
        bestLeft = left;
      }
    }
    return best;
  }
}
