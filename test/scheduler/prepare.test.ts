import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fetchNodes } from '../../src/nodes/fetchNodes.js';
import { NodeIndex } from '../../src/scheduler/nodeIndex.js';
import { Scene } from '../helpers/scene.js';

const SETTINGS = {
  nodes: {
    levels: ['host', 'db'],
    node_order: 'random',
    node_sources: [
      { source: 'range_label', prefs: { parent_level: 'instance', start: 1, end: 300, format: 'h{i}' } },
      { source: 'range_label', prefs: { parent_level: 'host', start: 1, end: 100, format: '{parent}.d{i}' } },
    ],
  },
  resources: { host: { host_slots: { limit: 2, default: 1 } }, db: { db_slots: { limit: 1, default: 1 } } },
};
const JOBS = { a: { owner: 'o' }, b: { owner: 'o', filters: { db: { whitelist_regex: '\\.d[1-5]$' } } } };

describe('a node set prepared ahead of the passes', () => {
  it('is indexed a slice at a time, the same as in one go, and the next pass uses that index', async () => {
    const scene = await Scene.create(SETTINGS, JOBS);
    const { settings } = scene.config;
    let pauses = 0;
    const sliced = await NodeIndex.sliced(scene.nodes, settings.resources, scene.statuses.names, () => {
      pauses++;
      return undefined;
    });
    assert.ok(pauses > 1, 'the build paused between slices');
    const whole = NodeIndex.of(scene.nodes, settings.resources, scene.statuses.names);
    for (const column of [
      'nameIds',
      'pathSteps',
      'budgetBase',
      'budgetNode',
      'limits',
      'pathEnabled',
    ] as const)
      assert.deepEqual(sliced[column], whole[column], column);

    await scene.scheduler.prepare(scene.nodes, scene.config, scene.statuses, () => undefined);
    const prepared = scene.scheduler.nodeIndex(scene.nodes, scene.config, scene.statuses);
    assert.notEqual(prepared, whole);
    assert.equal(scene.scheduler.nodeIndex(scene.nodes, scene.config, scene.statuses), prepared);
    // The eligibility masks were made for it: the pass finds them cached.
    for (const job of scene.config.jobs.values())
      assert.equal(
        scene.scheduler.eligibility.get(job, settings, prepared),
        scene.scheduler.eligibility.get(job, settings, prepared),
      );
    const starts = scene.pass().starts;
    assert.equal(starts.filter((start) => start.job.name === 'a').length > 0, true);
    assert.ok(
      starts.filter((start) => start.job.name === 'b').every((start) => /\.d[1-5]$/.test(start.node)),
    );
  });

  it('a pass on the old node set meanwhile keeps its own index and masks', async () => {
    const scene = await Scene.create(SETTINGS, JOBS);
    const before = scene.nodes;
    scene.pass();
    const current = scene.scheduler.nodeIndex(before, scene.config, scene.statuses);
    // A refresh: a new node set, the same config.
    scene.nodes = await fetchNodes(scene.config.settings, { instanceName: 'inst', now: 10 });
    assert.notEqual(scene.nodes, before);
    await scene.scheduler.prepare(scene.nodes, scene.config, scene.statuses, () => undefined);
    assert.equal(
      scene.scheduler.nodeIndex(before, scene.config, scene.statuses),
      current,
      'no rebuild for the old set',
    );
    const job = scene.config.jobs.get('a')!;
    const oldMask = scene.scheduler.eligibility.get(job, scene.config.settings, current);
    assert.equal(scene.scheduler.eligibility.get(job, scene.config.settings, current), oldMask);
  });
});
