import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSteps } from '../../src/nodes/eventLoopSlicer.js';
import { NameInterner } from '../../src/nodes/nameInterner.js';
import { NodeSetBuilder, type NodeSpec } from '../../src/nodes/nodeSet.js';

const names = new NameInterner();
function build(nodes: readonly Omit<NodeSpec, 'level' | 'parent'>[], interner = names) {
  const builder = new NodeSetBuilder('inst', 3, interner);
  for (const node of nodes) builder.add({ level: 1, parent: 0, ...node });
  return builder.build();
}
const same = (a: ReturnType<typeof build>, b: ReturnType<typeof build>) => runSteps(a.sameAs(b));

describe('NodeSet.sameAs', () => {
  it('tells an identical listing from one that differs in a name, flag, tag, order or interner', () => {
    const base = [
      { name: 'a', enabled: true, tags: ['x'] },
      { name: 'b', enabled: true },
    ];
    assert.equal(same(build(base), build(base)), true);
    assert.equal(same(build(base), build([base[0]!, { name: 'c', enabled: true }])), false);
    assert.equal(same(build(base), build([base[0]!, { name: 'b', enabled: false }])), false);
    assert.equal(same(build(base), build([{ name: 'a', enabled: true, tags: ['y'] }, base[1]!])), false);
    assert.equal(same(build(base), build([{ name: 'a', enabled: true }, base[1]!])), false);
    assert.equal(same(build(base), build([base[1]!, base[0]!])), false);
    assert.equal(same(build(base), build(base.slice(0, 1))), false);
    assert.equal(same(build(base), build(base, new NameInterner())), false);
  });
});
