/**
 * Monitor histograms: for each valid job and each level, how
 * many nodes have each combination of status bits, where a node's bits are
 * the OR of its own task's bits and those of every task below it. Codes use
 * the original's alphabet (`statusCode`).
 */
import type { Config } from '../config/config.js';
import type { Job } from '../config/job.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import { statusCode, StatusBits as B } from '../statuses/taskStatus.js';
import { Eligibility, type EligibilityCache } from './eligibility.js';
import type { NodeIndex } from './nodeIndex.js';
import { runSteps, SLICE_ITERATIONS, type Steps } from '../nodes/eventLoopSlicer.js';

export interface JobHistogram {
  /** level -> code -> count */
  readonly counts: Record<string, Record<string, number>>;
  /** level -> code -> up to `samples` node names */
  readonly samples: Record<string, Record<string, string[]>>;
}

/** The job's histogram, in one go (see jobHistogramSteps). */
export function jobHistogram(...args: Parameters<typeof jobHistogramSteps>): JobHistogram {
  return runSteps(jobHistogramSteps(...args));
}

/** The job's histogram, yielding between slices of nodes (millions of them take seconds). */
export function* jobHistogramSteps(
  job: Job,
  config: Config,
  index: NodeIndex,
  statuses: TaskStatuses,
  eligibility: EligibilityCache,
  now: number,
  samples: number,
): Steps<JobHistogram> {
  const nodes = index.nodes;
  const bits = new Uint16Array(nodes.size);
  const mask = eligibility.get(job, config.settings, index);
  const table = statuses.table(job.name);
  const taskNodes = nodes.atLevel(job.levelForTasks);
  for (let k = 0; k < taskNodes.length; k++) {
    if (k % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) yield;
    const node = taskNodes[k]!;
    let value =
      mask[k] === Eligibility.DISABLED ? B.DISABLED : mask[k] === Eligibility.AVOIDED ? B.AVOIDED : 0;
    const nameId = index.nameIds[node]!;
    const stored = table && nameId < table.bits.length ? table.bits[nameId]! : 0;
    if (stored === 0) {
      if (value === 0) value = B.UNSTARTED;
    } else {
      let status = stored;
      if (status & B.USES_BACKOFF && !(table!.time[nameId]! + table!.backoffSec[nameId]! > now))
        status &= ~B.USES_BACKOFF;
      value |= status;
    }
    for (let at = node; at >= 0; at = nodes.parents[at]!) bits[at]! |= value;
  }
  // Replicas count once per level: by name id, the last level (plus one) it was counted at.
  const seen = new Uint16Array(index.names.size);
  const counts: Record<string, Record<string, number>> = {};
  const sampled: Record<string, Record<string, string[]>> = {};
  for (let level = 0; level <= job.levelForTasks; level++) {
    const levelName = config.settings.levels[level]!;
    const levelCounts: Record<string, number> = {};
    const levelSamples: Record<string, string[]> = {};
    const atLevel = nodes.atLevel(level);
    for (let k = 0; k < atLevel.length; k++) {
      if (k % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) yield;
      const node = atLevel[k]!;
      const nameId = index.nameIds[node]!;
      if (seen[nameId] === level + 1) continue;
      seen[nameId] = level + 1;
      if (bits[node] === 0) continue;
      const code = statusCode(bits[node]!);
      levelCounts[code] = (levelCounts[code] ?? 0) + 1;
      const list = (levelSamples[code] ??= []);
      if (list.length < samples) list.push(nodes.name(node));
    }
    if (Object.keys(levelCounts).length > 0) counts[levelName] = levelCounts;
    if (samples > 0 && Object.keys(levelSamples).length > 0) sampled[levelName] = levelSamples;
  }
  return { counts, samples: sampled };
}
