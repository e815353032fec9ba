/**
 * `range_label` source: for each node at `parent_level` and
 * each i in [start, end], a child named by `format` ("{parent}__{i}" by
 * default; also {start} and {end}).
 */
import { boolean, integer, string } from '../../config/values.js';
import { compileNameTemplate } from '../nameFormat.js';
import { PAUSE_EVERY_NODES, readParentLevel, type NodeSourceCompiler } from './source.js';

export const compileRangeLabel: NodeSourceCompiler = (prefs, settings) => {
  const parentLevel = readParentLevel(prefs, settings);
  const start = prefs.required('start', integer, 0);
  const end = prefs.required('end', integer, -1);
  const format = prefs.optional('format', string, '{parent}__{i}');
  const enabled = prefs.optional('enabled', boolean, true);
  prefs.finish();
  let template = compileNameTemplate(format, ['parent', 'i', 'start', 'end']);
  if (typeof template === 'string') {
    prefs.invalid(['format'], template, format);
    template = () => '';
  }
  const name = template;
  return {
    name: 'range_label',
    async run(builder, context) {
      const vars = { start: String(start), end: String(end) };
      let added = 0;
      for (const parent of builder.nodesAtLevel(parentLevel)) {
        const parentName = builder.nameOf(parent);
        for (let i = start; i <= end; i++) {
          builder.add({
            name: name({ ...vars, parent: parentName, i: String(i) }),
            level: parentLevel + 1,
            parent,
            enabled,
          });
          if (++added % PAUSE_EVERY_NODES === 0) await context.pause();
        }
      }
    },
  };
};
