/**
 * Why a task is not running, as of the last pass: the first thing, in the
 * order the pass itself checks them, that kept (job, node) from starting.
 * Nothing is recorded during the pass (it stays as fast at a million nodes);
 * the pass keeps its resource ledger, and a reason is worked out from it,
 * the statuses and the eligibility masks when someone asks.
 */
import type { Config } from '../config/config.js';
import { jobCanRun, type Job } from '../config/job.js';
import { StatusBits as B } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import { dependenciesDone, Eligibility, type EligibilityCache, prerequisiteJobsDone } from './eligibility.js';
import type { NodeIndex } from './nodeIndex.js';
import type { ResourceLedger } from './resourceLedger.js';

/** What the last pass saw: its ledger after its starts, its node index and clock. */
export interface PassSnapshot {
  readonly config: Config;
  readonly index: NodeIndex;
  readonly ledger: ResourceLedger;
  /** Epoch seconds. */
  readonly now: number;
}

/** Reasons for the nodes of one job, sharing the per-job work. */
export class NotRunningReasons {
  private readonly needs: Int32Array;
  private prerequisites: boolean | undefined;
  private readonly workerLevel: boolean;

  constructor(
    private readonly snapshot: PassSnapshot,
    private readonly job: Job,
    private readonly statuses: TaskStatuses,
    private readonly eligibility: EligibilityCache,
  ) {
    const settings = snapshot.config.settings;
    this.needs = Int32Array.from(
      settings.resources,
      (resource) => job.resources[resource.name] ?? resource.defaultAmount,
    );
    this.workerLevel = job.levelForTasks === settings.levels.length - 1;
  }

  /**
   * Why the task on `node` (a node set index at the job's level, whose
   * eligibility is `maskValue`) did not start in the last pass; undefined
   * when it runs or is done.
   */
  reason(node: number, maskValue: number): string | undefined {
    const { snapshot, job, statuses } = this;
    const settings = snapshot.config.settings;
    const nameId = snapshot.index.nameIds[node]!;
    const status = statuses.table(job.name)?.get(nameId);
    const bits = status?.bits ?? 0;
    if (bits & (B.RUNNING | B.DONE)) return undefined;
    if (!settings.enabled) return 'scheduling is off (bistro_settings.enabled is false)';
    if (job.errors !== undefined) return 'the job is invalid (see its errors)';
    if (!job.enabled) return 'the job is disabled';
    if (!jobCanRun(job)) return 'the job cannot run';
    if (bits & B.FAILED) return 'failed permanently (its backoff is exhausted); forgive the job to retry';
    if (maskValue === Eligibility.DISABLED) return 'the node (or one above it) is disabled';
    if (maskValue === Eligibility.AVOIDED) return "filtered out by the job's filters";
    if (status && bits & B.USES_BACKOFF && status.time + status.backoffSec > snapshot.now)
      return `backing off until ${new Date((status.time + status.backoffSec) * 1000).toISOString()}`;
    if (this.workerLevel) return 'tasks at the worker level do not run on the local runner';
    this.prerequisites ??= prerequisiteJobsDone(
      job,
      snapshot.config.jobs,
      jobCanRun,
      settings,
      snapshot.index,
      statuses,
      this.eligibility,
    );
    if (!this.prerequisites)
      return `waiting for every node of ${job.runOnlyAfterAllNodesAreDoneFor.join(', ')} to be done`;
    if (job.dependsOn.length > 0 && !dependenciesDone(job, nameId, statuses)) {
      const pending = job.dependsOn.filter((dependency) => {
        const table = statuses.table(dependency);
        return !table || nameId >= table.bits.length || (table.bits[nameId]! & B.DONE) === 0;
      });
      return `dependency not done: ${pending.join(', ')}`;
    }
    const shortage = snapshot.ledger.shortage(node, this.needs);
    if (shortage)
      return `waiting for resource ${shortage.resource} on ${shortage.node} (needs ${shortage.needed}, ${shortage.available} free)`;
    return 'eligible: it starts in a coming pass';
  }
}
