/**
 * The monitor's histograms (`histogram`, `refresh_time`, the UI), computed
 * at most every MONITOR_MS as the original's monitor did, so a burst of
 * reads costs one computation.
 */
import type { Config } from '../config/config.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import { EventLoopSlicer, runStepsSliced, type Steps } from '../nodes/eventLoopSlicer.js';
import { jobHistogramSteps, type JobHistogram } from '../scheduler/histogram.js';
import type { Scheduler } from '../scheduler/pass.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';

/** Histograms are recomputed at most this often (the original's monitor period). */
export const MONITOR_MS = 5000;
const SAMPLES_PER_CODE = 10;

export interface Histograms {
  /** Epoch second of the computation (0 before the first). */
  readonly time: number;
  readonly byJob: ReadonlyMap<string, JobHistogram>;
}

export interface HistogramCacheOptions {
  /** How long a read may compute before the rest is done in slices between turns (tests set 0). */
  readonly syncBudgetMs?: number;
}

/** A read computes in its own turn for up to this long; beyond, the rest goes on in slices. */
const DEFAULT_SYNC_BUDGET_MS = 20;

export class HistogramCache {
  private cached: Histograms & { computedAt: number } = { time: 0, computedAt: -Infinity, byJob: new Map() };
  /** A computation going on in slices, if any; reads answer the last finished one meanwhile. */
  private computing: Promise<void> | undefined;
  private failed: Error | undefined;
  private readonly syncBudgetMs: number;

  constructor(
    private readonly config: () => Config,
    private readonly nodes: () => NodeSet | undefined,
    private readonly scheduler: Scheduler,
    private readonly statuses: TaskStatuses,
    options: HistogramCacheOptions = {},
  ) {
    this.syncBudgetMs = options.syncBudgetMs ?? DEFAULT_SYNC_BUDGET_MS;
  }

  /**
   * The latest histograms. A stale result starts a new computation: at
   * millions of nodes it takes seconds, so whatever does not fit in this
   * read's budget goes on in slices (EventLoopSlicer), and reads get the
   * last finished result until it is done (time 0 before the first).
   */
  get(): Histograms {
    if (this.failed) {
      const error = this.failed;
      this.failed = undefined;
      throw error;
    }
    if (this.computing || performance.now() - this.cached.computedAt < MONITOR_MS) return this.cached;
    const steps = this.steps();
    const deadline = performance.now() + this.syncBudgetMs;
    let step = steps.next();
    while (!step.done && performance.now() < deadline) step = steps.next();
    if (step.done) {
      this.cached = step.value;
      return this.cached;
    }
    const slicer = new EventLoopSlicer();
    this.computing = runStepsSliced(steps, () => slicer.due())
      .then(
        (histograms) => {
          this.cached = histograms;
        },
        (error: unknown) => {
          // Reported to the next read (its handler answers with the error).
          this.failed = error instanceof Error ? error : new Error(String(error));
        },
      )
      .finally(() => (this.computing = undefined));
    return this.cached;
  }

  private *steps(): Steps<Histograms & { computedAt: number }> {
    const config = this.config();
    const nodes = this.nodes();
    const byJob = new Map<string, JobHistogram>();
    if (nodes) {
      const index = this.scheduler.nodeIndex(nodes, config, this.statuses);
      const now = Date.now() / 1000;
      for (const job of config.jobs.values()) {
        if (job.errors !== undefined) continue;
        const histogram = yield* jobHistogramSteps(
          job,
          config,
          index,
          this.statuses,
          this.scheduler.eligibility,
          now,
          SAMPLES_PER_CODE,
        );
        byJob.set(job.name, histogram);
      }
    }
    return { time: Math.floor(Date.now() / 1000), computedAt: performance.now(), byJob };
  }
}
