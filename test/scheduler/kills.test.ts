import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostsAndDbs, Scene } from '../helpers/scene.js';

const NODES = { h1: ['d1', 'd2'], h2: ['d3'] };
const job = (extra: Record<string, unknown> = {}) => ({ owner: 'me', ...extra });

async function runningScene(
  settings: Record<string, unknown> = {},
  jobs: Record<string, unknown> = { j: job() },
) {
  const scene = await Scene.create(hostsAndDbs(NODES, {}, settings), jobs);
  scene.pass(1000);
  assert.deepEqual(
    scene.running(),
    Object.keys(jobs)
      .flatMap((name) => [`${name}:d1`, `${name}:d2`, `${name}:d3`])
      .sort(),
  );
  return scene;
}

const killed = (scene: Scene) => scene.last!.kills.map((k) => `${k.job}:${k.node}:${k.reason}`).sort();

describe('orphans', () => {
  it('job deleted: killed with the settings kill request', async () => {
    const scene = await runningScene(
      { kill_orphan_tasks_after_sec: 0, kill_subprocess: { method: 'kill' } },
      { j: job({ kill_subprocess: { method: 'term' } }) },
    );
    await scene.reconfigure(
      hostsAndDbs(NODES, {}, { kill_orphan_tasks_after_sec: 0, kill_subprocess: { method: 'kill' } }),
      {},
      false,
    );
    scene.pass(1001);
    assert.deepEqual(killed(scene), ['j:d1:orphan', 'j:d2:orphan', 'j:d3:orphan']);
    assert.deepEqual(scene.last!.kills[0]!.request, { method: 'kill', killWaitMs: 0 });
    assert.match(scene.last!.kills[0]!.detail, /its job was deleted/);
  });

  for (const [what, change] of [
    ['job disabled', { j: job({ enabled: false, kill_orphan_tasks_after_sec: true }) }],
    ['job invalid', { j: job({ priority: 'high', kill_orphan_tasks_after_sec: true }) }],
  ] as const) {
    it(`${what}: killed with the job's own delay`, async () => {
      const scene = await runningScene();
      await scene.reconfigure(hostsAndDbs(NODES, {}), change, false);
      scene.pass(1001);
      assert.deepEqual(killed(scene), ['j:d1:orphan', 'j:d2:orphan', 'j:d3:orphan']);
    });
  }

  it('node deleted or disabled is an orphan; only an ancestor disabled is not', async () => {
    const scene = await runningScene({ kill_orphan_tasks_after_sec: true });
    await scene.reconfigure(
      hostsAndDbs(
        { h1: { children: ['d1'], disabled: true }, h2: ['d3'], d3: { disabled: true } },
        {},
        { kill_orphan_tasks_after_sec: true },
      ),
      { j: job() },
    );
    scene.pass(1001);
    assert.deepEqual(
      killed(scene),
      ['j:d2:orphan', 'j:d3:orphan'],
      'd2 deleted, d3 disabled; d1 only has a disabled parent',
    );
  });

  it('a replica keeps a task alive while any enabled node has its name', async () => {
    const scene = await Scene.create(
      hostsAndDbs({ h1: ['d'], h2: ['d'] }, {}, { kill_orphan_tasks_after_sec: true }),
      { j: job() },
    );
    scene.pass(1000);
    await scene.reconfigure(hostsAndDbs({ h1: ['d'], h2: [] }, {}, { kill_orphan_tasks_after_sec: true }), {
      j: job(),
    });
    scene.pass(1001);
    assert.deepEqual(killed(scene), []);
  });

  it('delay N: alive before the deadline, killed after; fractional seconds', async () => {
    const scene = await runningScene({}, { j: job({ kill_orphan_tasks_after_sec: 2.5 }) });
    await scene.reconfigure(hostsAndDbs({ h1: ['d1', 'd2'] }, {}), {
      j: job({ kill_orphan_tasks_after_sec: 2.5 }),
    });
    scene.pass(1001);
    assert.deepEqual(killed(scene), []);
    assert.equal(scene.last!.orphanDeadlines.size, 1);
    assert.equal([...scene.last!.orphanDeadlines.values()][0], 1003.5);
    scene.pass(1003.4);
    assert.deepEqual(killed(scene), []);
    scene.pass(1003.5);
    assert.deepEqual(killed(scene), ['j:d3:orphan']);
    scene.pass(1003.6);
    assert.deepEqual(killed(scene), [], 'a killed orphan gets a fresh deadline');
  });

  it('re-adding the node within the delay cancels the kill; the clock restarts later', async () => {
    const scene = await runningScene({}, { j: job({ kill_orphan_tasks_after_sec: 10 }) });
    const jobs = { j: job({ kill_orphan_tasks_after_sec: 10 }) };
    await scene.reconfigure(hostsAndDbs({ h1: ['d1', 'd2'] }, {}), jobs);
    scene.pass(1001);
    await scene.reconfigure(hostsAndDbs(NODES, {}), jobs);
    scene.pass(1005);
    assert.equal(scene.last!.orphanDeadlines.size, 0);
    await scene.reconfigure(hostsAndDbs({ h1: ['d1', 'd2'] }, {}), jobs);
    scene.pass(1012);
    assert.deepEqual(killed(scene), [], 'the deadline restarted at 1012');
    scene.pass(1022);
    assert.deepEqual(killed(scene), ['j:d3:orphan']);
  });

  for (const value of [undefined, false, -1]) {
    it(`kill_orphan_tasks_after_sec ${String(value)} never kills`, async () => {
      const settings = value === undefined ? {} : { kill_orphan_tasks_after_sec: value };
      const scene = await runningScene(settings);
      await scene.reconfigure(hostsAndDbs(NODES, {}, settings), {}, false);
      scene.pass(1001);
      scene.pass(1e9);
      assert.deepEqual(killed(scene), []);
    });
  }

  it('the same config without changes kills nothing (a broken file is handled by keeping the last good config)', async () => {
    const scene = await runningScene({ kill_orphan_tasks_after_sec: true });
    scene.pass(1001);
    assert.deepEqual(killed(scene), []);
  });

  it('no kills while enabled is false', async () => {
    const scene = await runningScene({ kill_orphan_tasks_after_sec: true });
    await scene.reconfigure(
      { ...hostsAndDbs(NODES, {}, { kill_orphan_tasks_after_sec: true }), enabled: false },
      {},
      false,
    );
    scene.pass(1001);
    assert.deepEqual(killed(scene), []);
  });
});

describe('over-commit', () => {
  const settings = (limit: number, delay?: unknown) =>
    hostsAndDbs(
      { h1: ['d1', 'd2', 'd3', 'd4'] },
      { host: { host_slots: { limit, default: 1 } } },
      delay === undefined ? {} : { kill_tasks_exceeding_resources_after_sec: delay },
    );

  it('lowering a limit from 3 to 1 kills exactly the 2 newest tasks after the delay', async () => {
    const scene = await Scene.create(settings(3, 5), { j: job() });
    scene.pass(1000);
    const started = [...scene.statuses.runningTasks()]
      .sort((a, b) => a.startTime - b.startTime)
      .map((t) => t.node);
    assert.equal(started.length, 3);
    await scene.reconfigure(settings(1, 5), { j: job() }, false);
    scene.pass(1001);
    assert.deepEqual(killed(scene), [], 'not before the delay');
    assert.equal(scene.last!.overcommitDeadlines.size, 2);
    scene.pass(1006);
    assert.deepEqual(killed(scene), [`j:${started[1]}:overcommit`, `j:${started[2]}:overcommit`].sort());
    assert.match(scene.last!.kills[0]!.detail, /over-commit: host_slots is -2 on h1/);
  });

  it('without the setting nothing is killed', async () => {
    const scene = await Scene.create(settings(3), { j: job() });
    scene.pass(1000);
    await scene.reconfigure(settings(1), { j: job() }, false);
    scene.pass(1001);
    scene.pass(1e9);
    assert.deepEqual(killed(scene), []);
  });

  it('a job that opts out is skipped and an older task is chosen instead', async () => {
    const scene = await Scene.create(settings(2, 0), {
      old: job(),
      young: job({ kill_tasks_exceeding_resources_after_sec: false }),
    });
    scene.pass(1000);
    const running = [...scene.statuses.runningTasks()].sort((a, b) => a.startTime - b.startTime);
    assert.equal(running.length, 2);
    await scene.reconfigure(
      settings(1, 0),
      { old: job(), young: job({ kill_tasks_exceeding_resources_after_sec: false }) },
      false,
    );
    scene.pass(1001);
    const victims = scene.last!.kills.map((k) => k.job);
    assert.equal(victims.length, 1);
    assert.equal(victims[0], 'old');
  });

  it('the deadline is forgotten when the over-commit ends', async () => {
    const scene = await Scene.create(settings(2, 10), { j: job() });
    scene.pass(1000);
    await scene.reconfigure(settings(1, 10), { j: job() }, false);
    scene.pass(1001);
    assert.equal(scene.last!.overcommitDeadlines.size, 1);
    await scene.reconfigure(settings(2, 10), { j: job() }, false);
    scene.pass(1002);
    assert.equal(scene.last!.overcommitDeadlines.size, 0);
    assert.deepEqual(killed(scene), []);
  });
});
