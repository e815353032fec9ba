/** `nodes`: configured resources and the disabled flag of nodes, by level. */
import { EventLoopSlicer, SLICE_ITERATIONS } from '../../nodes/eventLoopSlicer.js';
import type { Handler } from '../apiContext.js';
import { ownChild, setOwn } from '../../text/ownKeys.js';

const ALL_FIELDS: readonly string[] = ['resources', 'disabled'];

export const nodes: Handler<'nodes'> = async (args, context) => {
  const fields: readonly string[] = args.fields?.length ? args.fields : ALL_FIELDS;
  const set = context.nodes();
  const settings = context.config().settings;
  const results: Record<string, Record<string, Record<string, unknown>>> = {};
  if (!set) return { results };
  // Asked for some nodes: compare name ids, and make a name only for the nodes answered.
  const filter = args.nodes?.length
    ? new Set(args.nodes.map((name) => set.interner.lookup(name)).filter((id) => id >= 0))
    : undefined;
  // Every node of millions takes seconds: the event loop gets its turns meanwhile.
  const slicer = new EventLoopSlicer();
  for (let i = 0; i < set.size; i++) {
    if (i % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) await slicer.due();
    if (filter && !filter.has(set.nameIds[i]!)) continue;
    const name = set.name(i);
    const level = settings.levels[set.levels[i]!]!;
    const byName = ownChild(results, level, () => ({}));
    const entry: Record<string, unknown> = Object.hasOwn(byName, name) ? byName[name]! : {};
    if (fields.includes('resources')) {
      const resources: Record<string, unknown> = {};
      for (const r of settings.resources) {
        if (r.levelId !== set.levels[i]) continue;
        setOwn(resources, r.name, {
          default: r.defaultAmount,
          limit: r.limit,
          ...(r.weight > 0 ? { weight: r.weight } : {}),
        });
      }
      entry['resources'] = resources;
    }
    if (fields.includes('disabled') && set.enabled[i] === 0) entry['disabled'] = true;
    setOwn(byName, name, entry);
  }
  return { results };
};
