/** `nodes`: configured resources and the disabled flag of nodes, by level. */
import { ApiError, type Handler } from '../apiContext.js';

const FIELDS = ['resources', 'disabled'];

export const nodes: Handler = {
  mutating: false,
  run: (args, context) => {
    const wanted = args['nodes'];
    const fields =
      Array.isArray(args['fields']) && args['fields'].length > 0 ? (args['fields'] as unknown[]) : FIELDS;
    for (const field of fields)
      if (!FIELDS.includes(field as string))
        throw new ApiError(`Unknown field name ${JSON.stringify(field)}`);
    const filter = Array.isArray(wanted) && wanted.length > 0 ? new Set(wanted as string[]) : undefined;
    const set = context.nodes();
    const settings = context.config().settings;
    const results: Record<string, Record<string, Record<string, unknown>>> = {};
    if (!set) return { results };
    for (let i = 0; i < set.size; i++) {
      const name = set.names[i]!;
      if (filter && !filter.has(name)) continue;
      const level = settings.levels[set.levels[i]!]!;
      const entry: Record<string, unknown> = (results[level] ??= {})[name] ?? {};
      if (fields.includes('resources')) {
        const resources: Record<string, unknown> = {};
        for (const r of settings.resources) {
          if (r.levelId !== set.levels[i]) continue;
          resources[r.name] = {
            default: r.defaultAmount,
            limit: r.limit,
            ...(r.weight > 0 ? { weight: r.weight } : {}),
          };
        }
        entry['resources'] = resources;
      }
      if (fields.includes('disabled') && set.enabled[i] === 0) entry['disabled'] = true;
      results[level]![name] = entry;
    }
    return { results };
  },
};
