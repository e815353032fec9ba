/** `sorted_node_names`: node names per level, sorted (the original's were not). */
import { EventLoopSlicer, runStepsSliced } from '../../nodes/eventLoopSlicer.js';
import type { NodeSet } from '../../nodes/nodeSet.js';
import { sortedDistinctNames } from '../../nodes/sortedNames.js';
import type { Handler } from '../apiContext.js';

/**
 * Per node set and level, the sorting under way: requests that arrive
 * meanwhile share it. Worked out in slices between turns (a million names
 * took most of a second in one block); not kept once answered, so that
 * millions of name strings do not stay on the heap.
 */
const underWay = new WeakMap<NodeSet, Map<number, Promise<string[]>>>();

function sortedNames(nodes: NodeSet, level: number): Promise<string[]> {
  let byLevel = underWay.get(nodes);
  if (!byLevel) underWay.set(nodes, (byLevel = new Map()));
  let sorted = byLevel.get(level);
  if (!sorted) {
    const slicer = new EventLoopSlicer();
    const levels = byLevel;
    sorted = runStepsSliced(sortedDistinctNames(nodes, level), () => slicer.due()).finally(() =>
      levels.delete(level),
    );
    byLevel.set(level, sorted);
  }
  return sorted;
}

export const sortedNodeNames: Handler<'sorted_node_names'> = async (_args, context) => {
  const nodes = context.nodes();
  const levels = context.config().settings.levels;
  const out: Record<string, string[]> = {};
  if (!nodes) return out;
  for (let id = 0; id < levels.length; id++) {
    if (id >= nodes.levelCount) break;
    const names = await sortedNames(nodes, id);
    if (names.length > 0) out[levels[id]!] = names;
  }
  return out;
};
