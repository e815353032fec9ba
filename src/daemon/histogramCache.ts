/**
 * The monitor's histograms (`histogram`, `refresh_time`, the UI), computed
 * at most every MONITOR_MS as the original's monitor did, so a burst of
 * reads costs one computation.
 */
import type { Config } from '../config/config.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import { jobHistogram, type JobHistogram } from '../scheduler/histogram.js';
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

export class HistogramCache {
  private cached: Histograms & { computedAt: number } = { time: 0, computedAt: -Infinity, byJob: new Map() };

  constructor(
    private readonly config: () => Config,
    private readonly nodes: () => NodeSet | undefined,
    private readonly scheduler: Scheduler,
    private readonly statuses: TaskStatuses,
  ) {}

  get(): Histograms {
    if (performance.now() - this.cached.computedAt < MONITOR_MS) return this.cached;
    const config = this.config();
    const nodes = this.nodes();
    const byJob = new Map<string, JobHistogram>();
    if (nodes) {
      const index = this.scheduler.nodeIndex(nodes, config, this.statuses);
      const now = Date.now() / 1000;
      for (const job of config.jobs.values()) {
        if (job.errors !== undefined) continue;
        const histogram = jobHistogram(
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
    this.cached = { time: Math.floor(Date.now() / 1000), computedAt: performance.now(), byJob };
    return this.cached;
  }
}
