/**
 * `job_grid` (beyond the original; the web UI's node grid): every node of a
 * job at its task level, grouped by an ancestor level (default: the level
 * above the tasks, say host), each with its status category as one digit
 * of a string, so 100k nodes cost one compact answer. The categories are
 * job_node_statuses' labels in the order of GRID_CATEGORIES.
 */
import type { Handler } from '../apiContext.js';
import { ApiError, NotFoundError } from '../apiErrors.js';
import { labelOf, shownBits } from './jobNodeStatuses.js';

export const GRID_CATEGORIES = [
  'done',
  'running',
  'backoff',
  'incomplete',
  'error',
  'failed',
  'unstarted',
  'avoided',
  'disabled',
] as const;

/** Larger jobs page through job_node_statuses instead. */
export const MAX_GRID_NODES = 1_000_000;

export const jobGrid: Handler<'job_grid'> = (args, context) => {
  const config = context.config();
  const job = config.jobs.get(args.job);
  if (!job) throw new NotFoundError(`Unknown job ${args.job}`);
  const nodes = context.nodes();
  const levels = config.settings.levels;
  if (!nodes || job.errors !== undefined)
    return { levels, group_level: null, groups: [], names: [], statuses: '' };
  const groupLevel =
    args.group_level === undefined ? Math.max(0, job.levelForTasks - 1) : levels.indexOf(args.group_level);
  if (groupLevel < 0 || groupLevel > job.levelForTasks)
    throw new ApiError(
      `job_grid: "group_level" must be one of ${levels.slice(0, job.levelForTasks + 1).join(', ')}`,
    );
  const atLevel = nodes.atLevel(job.levelForTasks);
  if (atLevel.length > MAX_GRID_NODES)
    throw new ApiError(
      `job_grid: ${atLevel.length} nodes is too many for one grid; page with job_node_statuses`,
    );
  const index = context.nodeIndex(nodes);
  const mask = context.eligibility.get(job, config.settings, index);
  const table = context.statuses.table(job.name);
  const now = Date.now() / 1000;
  // Group by ancestor, keeping the node set's order within each group.
  const groupIndex = new Map<number, number>();
  const groupNodes: number[][] = [];
  const groupNames: string[] = [];
  for (let k = 0; k < atLevel.length; k++) {
    let ancestor = atLevel[k]!;
    while (ancestor >= 0 && nodes.levels[ancestor]! > groupLevel) ancestor = nodes.parents[ancestor]!;
    let g = groupIndex.get(ancestor);
    if (g === undefined) {
      g = groupNames.length;
      groupIndex.set(ancestor, g);
      groupNames.push(ancestor >= 0 ? nodes.name(ancestor) : '');
      groupNodes.push([]);
    }
    groupNodes[g]!.push(k);
  }
  const names: string[] = [];
  const digits: string[] = [];
  const groups: { name: string; start: number; count: number }[] = [];
  for (let g = 0; g < groupNames.length; g++) {
    groups.push({ name: groupNames[g]!, start: names.length, count: groupNodes[g]!.length });
    for (const k of groupNodes[g]!) {
      const nodeName = nodes.name(atLevel[k]!);
      const status = table?.get(index.nameIds[atLevel[k]!]!);
      const label = labelOf(shownBits(status, mask[k]!, now));
      const category = GRID_CATEGORIES.indexOf(label as (typeof GRID_CATEGORIES)[number]);
      names.push(nodeName);
      digits.push(String(category < 0 ? GRID_CATEGORIES.indexOf('unstarted') : category));
    }
  }
  return {
    levels,
    group_level: levels[groupLevel] ?? null,
    categories: GRID_CATEGORIES,
    groups,
    names,
    statuses: digits.join(''),
  };
};
