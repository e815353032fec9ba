import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HistogramCache } from '../../src/daemon/histogramCache.js';
import { jobHistogram } from '../../src/scheduler/histogram.js';
import { Scene } from '../helpers/scene.js';

describe('histogram cache', () => {
  it('answers the last finished histograms while a large computation goes on in slices between turns', async () => {
    const scene = await Scene.create(
      {
        resources: { host: { slots: { limit: 1, default: 1 } } },
        nodes: {
          levels: ['host', 'db'],
          node_sources: [
            {
              source: 'range_label',
              prefs: { parent_level: 'instance', start: 1, end: 300, format: 'h{i}' },
            },
            {
              source: 'range_label',
              prefs: { parent_level: 'host', start: 1, end: 100, format: '{parent}.d{i}' },
            },
          ],
        },
      },
      { j: { owner: 'me' }, k: { owner: 'me', level_for_tasks: 'host' } },
    );
    scene.pass(1000);
    const cache = new HistogramCache(
      () => scene.config,
      () => scene.nodes,
      scene.scheduler,
      scene.statuses,
      { syncBudgetMs: 0 },
    );
    const before = cache.get();
    assert.equal(before.time, 0, 'nothing finished yet');
    assert.equal(before.byJob.size, 0);

    let turns = 0;
    let answer = cache.get();
    while (answer.time === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
      answer = cache.get();
    }
    assert.ok(turns >= 1, `answered after ${turns} turns`);
    const index = scene.scheduler.nodeIndex(scene.nodes, scene.config, scene.statuses);
    for (const name of ['j', 'k']) {
      const expected = jobHistogram(
        scene.config.jobs.get(name)!,
        scene.config,
        index,
        scene.statuses,
        scene.scheduler.eligibility,
        Date.now() / 1000,
        10,
      );
      assert.deepEqual(answer.byJob.get(name)?.counts, expected.counts);
    }
    assert.equal(cache.get(), answer, 'a fresh result is answered as it is');
  });
});
