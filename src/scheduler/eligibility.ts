/**
 * Where a job may start: the task node and every ancestor must
 * be enabled, and pass the job's filter for its level. The result per node at
 * the job's level is cached per (job, node index), since it only changes with
 * the config or the nodes. Dependencies are checked per pass, against the
 * statuses.
 */
import type { NodeFilter } from '../config/filters.js';
import type { Job } from '../config/job.js';
import type { Settings } from '../config/settings.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import { StatusBits } from '../statuses/taskStatus.js';
import { compileLinearRegex, type LinearRegex } from '../text/linearRegex.js';
import { passesFraction } from './fractionHash.js';
import type { NodeIndex } from './nodeIndex.js';
import { runSteps, runStepsSliced, SLICE_ITERATIONS, type Steps } from '../nodes/eventLoopSlicer.js';

export const Eligibility = { ELIGIBLE: 0, DISABLED: 1, AVOIDED: 2 } as const;

/** Per node at the job's level (same order as `nodes.atLevel`): an Eligibility value. */
export type EligibilityMask = Uint8Array;

/** A filter ready to test nodes: lookups as sets, regexes compiled; absent parts pass. */
interface CompiledFilter {
  readonly whitelist?: ReadonlySet<string>;
  readonly blacklist?: ReadonlySet<string>;
  readonly tagWhitelist?: ReadonlySet<string>;
  readonly whitelistRegex?: LinearRegex;
  readonly blacklistRegex?: LinearRegex;
  readonly fractionOfNodes: number;
}

function compileFilter(filter: NodeFilter): CompiledFilter {
  const set = (items: readonly string[]) => (items.length > 0 ? new Set(items) : undefined);
  return {
    whitelist: set(filter.whitelist),
    blacklist: set(filter.blacklist),
    tagWhitelist: set(filter.tagWhitelist),
    whitelistRegex: filter.whitelistRegex ? compileLinearRegex(filter.whitelistRegex) : undefined,
    blacklistRegex: filter.blacklistRegex ? compileLinearRegex(filter.blacklistRegex) : undefined,
    fractionOfNodes: filter.fractionOfNodes,
  };
}

function passesFilter(
  filter: CompiledFilter,
  name: string,
  tags: readonly string[] | undefined,
  job: string,
): boolean {
  if (filter.whitelist && !filter.whitelist.has(name)) return false;
  if (filter.whitelistRegex && !filter.whitelistRegex.test(name)) return false;
  if (filter.blacklist && filter.blacklist.has(name)) return false;
  if (filter.blacklistRegex && filter.blacklistRegex.test(name)) return false;
  const tagWhitelist = filter.tagWhitelist;
  if (tagWhitelist && !(tags ?? []).some((tag) => tagWhitelist.has(tag))) return false;
  if (filter.fractionOfNodes < 1 && !passesFraction(name, job, filter.fractionOfNodes)) return false;
  return true;
}

/** A filter as a test of one name without tags (the `worker` level's filter, on host names). */
export function compileNodeFilter(filter: NodeFilter, job: string): (name: string) => boolean {
  const compiled = compileFilter(filter);
  return (name) => passesFilter(compiled, name, undefined, job);
}

/** Computes the eligibility of every node at the job's level. */
export function computeEligibility(job: Job, settings: Settings, index: NodeIndex): EligibilityMask {
  return runSteps(eligibilitySteps(job, settings, index));
}

/** computeEligibility, yielding between slices of nodes. */
function* eligibilitySteps(job: Job, settings: Settings, index: NodeIndex): Steps<EligibilityMask> {
  const nodes = index.nodes;
  const taskNodes = nodes.atLevel(job.levelForTasks);
  const mask = new Uint8Array(taskNodes.length);
  // Filter verdicts per node on the path, computed once per node: 0 unknown, 1 pass, 2 fail.
  const verdict = new Uint8Array(nodes.size);
  const filtersByLevel = settings.levels.map((level) => {
    const filter = job.filters[level];
    return filter ? compileFilter(filter) : undefined;
  });
  for (let k = 0; k < taskNodes.length; k++) {
    if (k % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) yield;
    const node = taskNodes[k]!;
    if (!index.pathEnabled[node]) {
      mask[k] = Eligibility.DISABLED;
      continue;
    }
    for (let at = node; at >= 0; at = nodes.parents[at]!) {
      const filter = filtersByLevel[nodes.levels[at]!];
      if (!filter) continue;
      if (verdict[at] === 0)
        verdict[at] = passesFilter(filter, nodes.name(at), nodes.tagsOf(at), job.name) ? 1 : 2;
      if (verdict[at] === 2) {
        mask[k] = Eligibility.AVOIDED;
        break;
      }
    }
  }
  return mask;
}

/** Caches eligibility masks; entries die with their job object or node index. */
export class EligibilityCache {
  /**
   * Per job, the masks of the two latest indexes, newest first: the node set
   * in use and the next one, prepared while passes still run on the first
   * (Scheduler.prepare), so neither evicts the other.
   */
  private readonly masks = new WeakMap<Job, { index: NodeIndex; mask: EligibilityMask }[]>();

  get(job: Job, settings: Settings, index: NodeIndex): EligibilityMask {
    return this.cached(job, index) ?? this.keep(job, index, computeEligibility(job, settings, index));
  }

  /** Computes and keeps the job's mask for `index`, awaiting `pause()` between slices (see Scheduler.prepare). */
  async prepare(
    job: Job,
    settings: Settings,
    index: NodeIndex,
    pause: () => Promise<void> | undefined,
  ): Promise<void> {
    if (this.cached(job, index)) return;
    const mask = await runStepsSliced(eligibilitySteps(job, settings, index), pause);
    // A pass may have needed it meanwhile.
    if (!this.cached(job, index)) this.keep(job, index, mask);
  }

  private cached(job: Job, index: NodeIndex): EligibilityMask | undefined {
    return this.masks.get(job)?.find((entry) => entry.index === index)?.mask;
  }

  private keep(job: Job, index: NodeIndex, mask: EligibilityMask): EligibilityMask {
    this.masks.set(job, [{ index, mask }, ...(this.masks.get(job) ?? []).slice(0, 1)]);
    return mask;
  }
}

/** True if every dependency is done on the node named `nameId`. */
export function dependenciesDone(job: Job, nameId: number, statuses: TaskStatuses): boolean {
  for (const dependency of job.dependsOn) {
    const table = statuses.table(dependency);
    if (!table || nameId >= table.bits.length || (table.bits[nameId]! & StatusBits.DONE) === 0) return false;
  }
  return true;
}

/**
 * `run_only_after_all_nodes_are_done_for`: every listed job must be runnable, and done on every node of
 * its level that it is not filtered out of (a level with no nodes is done).
 */
export function prerequisiteJobsDone(
  job: Job,
  jobs: ReadonlyMap<string, Job>,
  canRun: (job: Job) => boolean,
  settings: Settings,
  index: NodeIndex,
  statuses: TaskStatuses,
  cache: EligibilityCache,
): boolean {
  for (const name of job.runOnlyAfterAllNodesAreDoneFor) {
    const prerequisite = jobs.get(name);
    if (!prerequisite || !canRun(prerequisite)) return false;
    const mask = cache.get(prerequisite, settings, index);
    const taskNodes = index.nodes.atLevel(prerequisite.levelForTasks);
    const table = statuses.table(name);
    for (let k = 0; k < taskNodes.length; k++) {
      if (mask[k] !== Eligibility.ELIGIBLE) continue;
      const nameId = index.nameIds[taskNodes[k]!]!;
      if (!table || nameId >= table.bits.length || (table.bits[nameId]! & StatusBits.DONE) === 0)
        return false;
    }
  }
  return true;
}
