import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostsAndDbs, Scene } from '../helpers/scene.js';

const TWO_HOSTS = { h1: ['d1', 'd2', 'd3'], h2: ['d4', 'd5'] };
const job = (extra: Record<string, unknown> = {}) => ({ owner: 'me', ...extra });

describe('resources', () => {
  it('charges every node on the path to the root', async () => {
    const scene = await Scene.create(
      hostsAndDbs(TWO_HOSTS, {
        instance: { slots: { limit: 3, default: 1 } },
        host: { host_slots: { limit: 2, default: 1 } },
        db: { db_slots: { limit: 1, default: 1 } },
      }),
      { a: job() },
    );
    const first = scene.pass();
    // Original order: d1, d2 fill h1; d3 is blocked by h1's limit; d4 takes the last instance slot.
    assert.deepEqual(scene.started(first), ['a:d1', 'a:d2', 'a:d4']);
    assert.deepEqual(first.starts[0]!.charges, {
      inst: { slots: 1 },
      h1: { host_slots: 1 },
      d1: { db_slots: 1 },
    });
    assert.deepEqual(first.starts[0]!.pathToNode, ['inst', 'h1', 'd1']);
    assert.deepEqual(scene.started(scene.pass()), [], 'all running or blocked');
    scene.finish('a', 'd1', 'done');
    assert.deepEqual(scene.started(scene.pass()), ['a:d3']);
  });

  it('job overrides of resource amounts; 0 means unconstrained', async () => {
    const scene = await Scene.create(
      hostsAndDbs(TWO_HOSTS, { host: { host_slots: { limit: 2, default: 1 } } }),
      {
        heavy: job({ resources: { host_slots: 2 } }),
        free: job({ resources: { host_slots: 0 } }),
      },
    );
    const result = scene.pass();
    const heavy = result.starts.filter((s) => s.job.name === 'heavy').map((s) => s.node);
    const free = result.starts.filter((s) => s.job.name === 'free').map((s) => s.node);
    assert.deepEqual(free, ['d1', 'd2', 'd3', 'd4', 'd5']);
    assert.deepEqual(heavy, ['d1', 'd4'], 'one heavy task per host');
  });

  it('replicas share one budget and one status', async () => {
    const scene = await Scene.create(
      hostsAndDbs({ h1: ['shared', 'x'], h2: ['shared'] }, { db: { db_slots: { limit: 1, default: 1 } } }),
      { a: job(), b: job() },
    );
    const result = scene.pass();
    const onShared = result.starts.filter((s) => s.node === 'shared');
    assert.equal(onShared.length, 1, 'the replicas of "shared" have one slot between them');
    assert.equal(result.starts.filter((s) => s.node === 'x').length, 1);
  });

  it('running tasks keep what they were charged; a shrunk limit goes negative and blocks even 0-need tasks', async () => {
    const settings = (limit: number) =>
      hostsAndDbs({ h1: ['d1', 'd2', 'd3'] }, { host: { host_slots: { limit, default: 1 } } });
    const scene = await Scene.create(settings(3), {
      a: job(),
      zero: job({ enabled: false, resources: { host_slots: 0 } }),
    });
    assert.equal(scene.pass().starts.length, 3);
    await scene.reconfigure(settings(1), { a: job(), zero: job({ resources: { host_slots: 0 } }) }, false);
    const result = scene.pass();
    assert.deepEqual(result.starts, [], 'a negative budget blocks even a job needing 0');
    assert.deepEqual(result.errors['Running tasks resources'], ['Resource host_slots is -2 on node h1']);
    assert.deepEqual(result.kills, [], 'nothing is killed without kill_tasks_exceeding_resources_after_sec');
  });
});

describe('policies and node order', () => {
  const oneSlot = (order: string, policy: string, limit = 1) => ({
    nodes: {
      levels: ['db'],
      node_order: order,
      node_sources: [{ source: 'manual', prefs: { c: [], a: [], b: [] } }],
    },
    resources: { instance: { slots: { limit, default: 1 } } },
    scheduler: policy,
  });

  it('consumes candidates in the configured order (original, lexicographic)', async () => {
    const original = await Scene.create(oneSlot('original', 'roundrobin', 2), { j: job() });
    assert.deepEqual(original.started(original.pass()), ['j:c', 'j:a']);
    const lexicographic = await Scene.create(oneSlot('lexicographic', 'roundrobin', 2), { j: job() });
    assert.deepEqual(lexicographic.started(lexicographic.pass()), ['j:a', 'j:b']);
  });

  it('random order is reproducible from the seed', async () => {
    const runs = await Promise.all(
      [1, 2].map(() => Scene.create(oneSlot('random', 'roundrobin', 2), { j: job() })),
    );
    assert.deepEqual(runs[0]!.started(runs[0]!.pass()), runs[1]!.started(runs[1]!.pass()));
  });

  it('roundrobin gives each job one task per round', async () => {
    const scene = await Scene.create(oneSlot('original', 'roundrobin', 4), { x: job(), y: job() });
    const started = scene.started(scene.pass());
    assert.equal(started.length, 4);
    assert.equal(started.filter((s) => s.startsWith('x:')).length, 2);
    assert.equal(started.filter((s) => s.startsWith('y:')).length, 2);
    // Alternating jobs: the first two starts are from different jobs.
    assert.notEqual(started[0]!.split(':')[0], started[1]!.split(':')[0]);
  });

  it('ranked_priority exhausts the highest priority job first', async () => {
    const scene = await Scene.create(oneSlot('original', 'ranked_priority', 4), {
      low: job({ priority: 1 }),
      high: job({ priority: 5 }),
    });
    assert.deepEqual(scene.started(scene.pass()), ['high:c', 'high:a', 'high:b', 'low:c']);
  });

  it('long_tail runs the job with the fewest candidates first', async () => {
    const scene = await Scene.create(oneSlot('original', 'long_tail', 3), {
      wide: job(),
      narrow: job({ filters: { db: { whitelist: ['b'] } } }),
    });
    assert.deepEqual(scene.started(scene.pass()), ['narrow:b', 'wide:c', 'wide:a']);
  });

  it('randomized_priority never picks a zero-priority job while another has candidates', async () => {
    const scene = await Scene.create(oneSlot('original', 'randomized_priority', 1), {
      zero: job({ priority: 0 }),
      one: job({ priority: 1 }),
    });
    assert.deepEqual(scene.started(scene.pass()), ['one:c']);
  });

  it('does nothing while enabled is false', async () => {
    const scene = await Scene.create({ ...oneSlot('original', 'roundrobin'), enabled: false }, { j: job() });
    const result = scene.pass();
    assert.deepEqual(result.starts, []);
    assert.deepEqual(result.errors['Main loop'], ['Not running because enabled is false']);
  });

  it('never starts a job at the worker level', async () => {
    const scene = await Scene.create(oneSlot('original', 'roundrobin'), {
      j: job({ level_for_tasks: 'worker' }),
    });
    assert.deepEqual(scene.pass().starts, []);
  });
});

describe('eligibility', () => {
  const tree = {
    h1: ['d1', 'd2'],
    h2: ['d3', 'xd4'],
    h3: { children: ['d5'], disabled: true },
    d2: { disabled: true },
  };
  const scene = (jobs: Record<string, unknown>) => Scene.create(hostsAndDbs(tree, {}), jobs);
  const startedNodes = async (filters: Record<string, unknown>) => {
    const s = await scene({ j: job({ filters }) });
    return s.pass().starts.map((start) => start.node);
  };

  it('skips disabled nodes and nodes under a disabled ancestor', async () => {
    assert.deepEqual(await startedNodes({}), ['d1', 'd3', 'xd4']);
  });

  it('applies every filter kind, on the task level and on ancestors', async () => {
    assert.deepEqual(await startedNodes({ db: { whitelist: ['d1', 'd3'] } }), ['d1', 'd3']);
    assert.deepEqual(await startedNodes({ db: { whitelist_regex: '4' } }), ['xd4'], 'search, not full match');
    assert.deepEqual(await startedNodes({ db: { whitelist_regex: '^d' } }), ['d1', 'd3']);
    assert.deepEqual(await startedNodes({ db: { blacklist: ['d3'] } }), ['d1', 'xd4']);
    assert.deepEqual(await startedNodes({ db: { blacklist_regex: 'd[13]' } }), ['xd4']);
    assert.deepEqual(await startedNodes({ host: { whitelist: ['h2'] } }), ['d3', 'xd4']);
    assert.deepEqual(await startedNodes({ host: { blacklist: ['h2'] }, db: { blacklist: ['d1'] } }), []);
  });

  it('tag_whitelist needs at least one listed tag', async () => {
    const s = await Scene.create(
      {
        nodes: {
          levels: ['t'],
          node_sources: [
            {
              source: 'add_time',
              prefs: {
                parent_level: 'instance',
                format: 't{time}',
                schedule: [
                  { cron: { epoch: [1] }, lifetime: 1e6, tags: ['a'] },
                  { cron: { epoch: [2] }, lifetime: 1e6, tags: ['b'] },
                  { cron: { epoch: [3] }, lifetime: 1e6 },
                ],
              },
            },
          ],
        },
        resources: {},
      },
      { j: job({ filters: { t: { tag_whitelist: ['b', 'z'] } } }) },
    );
    assert.deepEqual(s.started(s.pass()), ['j:t2']);
  });

  it('depends_on: runs only where every dependency is done on the same node name', async () => {
    const s = await scene({
      first: job(),
      second: job({ depends_on: ['first'] }),
      never: job({ depends_on: ['nosuchjob'] }),
    });
    assert.deepEqual(
      s.started(s.pass()).filter((t) => !t.startsWith('first:')),
      [],
    );
    s.finish('first', 'd1', 'done');
    s.finish('first', 'd3', 'failed');
    assert.deepEqual(s.started(s.pass()), ['second:d1']);
  });

  it('run_only_after_all_nodes_are_done_for: waits until the listed job is done everywhere it can run', async () => {
    const s = await scene({
      first: job({ filters: { db: { blacklist: ['xd4'] } } }),
      after: job({ run_only_after_all_nodes_are_done_for: ['first'] }),
    });
    assert.deepEqual(s.started(s.pass()), ['first:d1', 'first:d3']);
    s.finish('first', 'd1', 'done');
    assert.deepEqual(s.started(s.pass()), []);
    s.finish('first', 'd3', 'done');
    assert.deepEqual(
      s.started(s.pass()),
      ['after:d1', 'after:d3', 'after:xd4'],
      'xd4 is filtered out for first, disabled ones do not count',
    );
  });

  it('run_only_after_all_nodes_are_done_for a disabled or unknown job never runs', async () => {
    const s = await scene({
      off: job({ enabled: false }),
      a: job({ run_only_after_all_nodes_are_done_for: ['off'] }),
      b: job({ run_only_after_all_nodes_are_done_for: ['ghost'] }),
    });
    assert.deepEqual(s.started(s.pass()), []);
  });

  it('invalid jobs never start', async () => {
    const s = await scene({ bad: job({ priority: 'high' }) });
    assert.deepEqual(s.started(s.pass()), []);
  });
});

describe('statuses and backoff in the pass', () => {
  const settings = (backoff: unknown[]) => hostsAndDbs({ h: ['d'] }, {}, { backoff });

  it('[5,15,60]: waits 5, 15, 60 s, then the 4th error is failed', async () => {
    const s = await Scene.create(settings([5, 15, 60]), { j: job() });
    let now = 1000;
    const waits: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      assert.deepEqual(s.started(s.pass(now)), ['j:d'], `attempt ${attempt}`);
      s.finish('j', 'd', 'error_backoff', now);
      const status = s.statuses.get('j', 'd')!;
      if (status.bits & 16) break;
      waits.push(status.backoffSec);
      assert.deepEqual(s.started(s.pass(now + status.backoffSec - 1)), [], 'still backing off');
      now += status.backoffSec;
    }
    assert.deepEqual(waits, [5, 15, 60]);
    assert.equal(s.statuses.get('j', 'd')!.bits, 16, 'FAILED');
    assert.deepEqual(s.started(s.pass(now + 1e6)), [], 'failed never runs again');
    s.statuses.forgive('j');
    assert.deepEqual(s.started(s.pass(now + 1e6)), ['j:d'], 'until forgiven');
    s.finish('j', 'd', 'error_backoff', now + 1e6);
    assert.equal(s.statuses.get('j', 'd')!.backoffSec, 5, 'forgiveness restarts the progression');
  });

  it('repeat keeps the last value; incomplete resets; killed without status does not advance', async () => {
    const s = await Scene.create(settings([5, 15, 'repeat']), { j: job() });
    let now = 1000;
    const step = (report: string) => {
      assert.deepEqual(s.started(s.pass(now)), ['j:d']);
      s.finish('j', 'd', report, now);
      const status = s.statuses.get('j', 'd')!;
      now += status.backoffSec;
      return status.backoffSec;
    };
    assert.deepEqual(
      ['error_backoff', 'error_backoff', 'error_backoff', 'error_backoff'].map(step),
      [5, 15, 15, 15],
    );
    assert.equal(step('incomplete'), 0);
    assert.equal(step('error_backoff'), 5, 'incomplete reset the progression');
    assert.equal(step('incomplete_backoff'), 5, 'waits the current step');
    assert.equal(step('incomplete_backoff'), 5, 'and does not advance');
    assert.equal(step('error_backoff'), 15, 'the next error advances from where it was');
  });

  it('a fresh task killed without a status waits the first step', async () => {
    const s = await Scene.create(settings([5, 15]), { j: job() });
    s.pass();
    s.finish('j', 'd', 'incomplete_backoff');
    assert.equal(s.statuses.get('j', 'd')!.backoffSec, 5);
  });

  it('done tasks never run again; JSON data is kept for prev_status', async () => {
    const s = await Scene.create(settings([5]), { j: job() });
    s.pass();
    s.finish('j', 'd', '{"result": "incomplete", "data": {"cursor": 7}}');
    assert.deepEqual(s.statuses.get('j', 'd')!.data, { cursor: 7 });
    s.pass();
    s.finish('j', 'd', 'done');
    assert.deepEqual(s.started(s.pass(1e9)), []);
  });
});
