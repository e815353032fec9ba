import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { runSteps, runStepsSliced } from '../../src/nodes/eventLoopSlicer.js';
import { NodeSetBuilder } from '../../src/nodes/nodeSet.js';
import { sortedDistinctNames, sortedSteps } from '../../src/nodes/sortedNames.js';

describe('sorted node names', () => {
  it('sorts in slices exactly as Array.prototype.sort does', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength: 20_000 }), (strings) => {
        assert.deepEqual(runSteps(sortedSteps([...strings])), [...strings].sort());
      }),
      { numRuns: 30 },
    );
  });

  it("gives a level's distinct names once each, sorted, and lets the event loop turn meanwhile", async () => {
    const builder = new NodeSetBuilder('inst', 4);
    for (let h = 0; h < 300; h++) {
      const host = builder.add({ name: `h${(h * 7919) % 300}`, level: 1, parent: 0, enabled: true });
      // Replicas: the same db name under two hosts.
      for (let d = 0; d < 100; d++)
        builder.add({ name: `db${(h % 150) * 100 + d}`, level: 2, parent: host, enabled: true });
    }
    const nodes = builder.build();
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    let pauses = 0;
    const sorted = await runStepsSliced(sortedDistinctNames(nodes, 2), () => {
      pauses++;
      return pauses % 4 === 0 ? new Promise((resolve) => setImmediate(resolve)) : undefined;
    });
    clearInterval(ticker);
    const expected = [...new Set(Array.from({ length: 15_000 }, (_, i) => `db${i}`))].sort();
    assert.deepEqual(sorted, expected);
    assert.ok(turns > 0, 'the event loop turned while the names were sorted');
    assert.deepEqual(runSteps(sortedDistinctNames(nodes, 1)).length, 300);
  });
});
