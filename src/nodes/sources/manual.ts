/**
 * `manual` source: prefs map a node name to its children
 * (an array, a single name, or {"children": [...], "disabled": bool}).
 * Names that are nobody's child are top-level nodes under the instance.
 * A name listed under two parents becomes two replicas. `"disabled": false`
 * means enabled (the original disabled on the key's mere presence).
 */
import { describeValue } from '../../config/issues.js';
import { isPlainObject, ObjectReader } from '../../config/reader.js';
import { boolean, nodeNameProblem, stringArray } from '../../config/values.js';
import { NodeSourceError, type CompiledNodeSource, type NodeSourceCompiler } from './source.js';

interface ManualEntry {
  readonly children: readonly string[];
  readonly disabled: boolean;
}

export const compileManual: NodeSourceCompiler = (prefs, settings) => {
  const entries = new Map<string, ManualEntry>();
  for (const name of Object.keys(prefs.input)) {
    const value = prefs.raw(name);
    if (typeof value === 'string') entries.set(name, { children: [value], disabled: false });
    else if (Array.isArray(value)) {
      const children = stringArray.safeParse(value);
      if (!children.success)
        prefs.invalid([name], `expected an array of child names, received ${describeValue(value)}`, value);
      entries.set(name, { children: children.success ? children.data : [], disabled: false });
    } else if (isPlainObject(value)) {
      const entry = new ObjectReader(value, [...prefs.path, name], prefs.sink);
      entries.set(name, {
        children: entry.optional('children', stringArray, []),
        disabled: entry.optional('disabled', boolean, false),
      });
      entry.finish();
    } else {
      prefs.invalid(
        [name],
        `expected a child name, an array of names or {"children": [...], "disabled": bool}, received ${describeValue(value)}`,
        value,
      );
    }
  }
  for (const [name, entry] of entries) {
    for (const node of [name, ...entry.children]) {
      const problem = nodeNameProblem(node);
      if (problem !== undefined) prefs.invalid([name], problem, node);
    }
  }
  const hasParent = new Set<string>();
  for (const entry of entries.values()) for (const child of entry.children) hasParent.add(child);
  const topLevel = [...entries.keys()].filter((name) => !hasParent.has(name));
  if (topLevel.length === 0)
    prefs.invalid(
      [],
      "No top level nodes are defined (every node is some node's child, or prefs are empty)",
      prefs.input,
    );
  const maxLevel = settings.levels.length - 2;

  const source: CompiledNodeSource = {
    name: 'manual',
    run(builder) {
      const add = (name: string, level: number, parent: number): void => {
        if (level > maxLevel) {
          throw new NodeSourceError(
            'manual',
            `Node ${name} would be at level ${level} but the maximum is ${maxLevel}`,
          );
        }
        const entry = entries.get(name);
        const index = builder.add({ name, level, parent, enabled: !(entry?.disabled ?? false) });
        for (const child of entry?.children ?? []) add(child, level + 1, index);
      };
      for (const name of topLevel) add(name, 1, 0);
    },
  };
  return source;
};
