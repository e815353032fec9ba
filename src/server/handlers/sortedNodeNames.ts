/** `sorted_node_names`: node names per level, sorted (the original's were not). */
import type { Handler } from '../apiContext.js';

export const sortedNodeNames: Handler<'sorted_node_names'> = (_args, context) => {
  const nodes = context.nodes();
  const levels = context.config().settings.levels;
  const out: Record<string, string[]> = {};
  if (!nodes) return out;
  levels.forEach((level, id) => {
    const names = [...new Set(Array.from(nodes.atLevel(id), (i) => nodes.name(i)))].sort();
    if (names.length > 0) out[level] = names;
  });
  return out;
};
