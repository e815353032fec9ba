/**
 * End to end: the real `bistro scheduler` process, real task processes,
 * real SQLite files, config edits picked up by polling.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { getPriority } from 'node:os';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { StatusBits as B } from '../../src/statuses/taskStatus.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { isAlive, sleep, waitFor } from '../helpers/processes.js';

let daemon: DaemonProcess;
beforeEach(() => {
  daemon = new DaemonProcess();
});
afterEach(async () => {
  const left = await daemon.cleanup();
  assert.deepEqual(left, { pids: [], cgroups: [] }, 'no task process or task cgroup left behind');
});

const nodes = (prefs: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  nodes: { levels: ['host', 'db'], node_sources: [{ source: 'manual', prefs }] },
  resources: {},
  ...extra,
});
const TWO = { h1: ['d1', 'd2'] };
const LONG = { sleep_sec: 1000, children: 1 };
const running = (tag: string) => daemon.pids().filter((p) => p.tag === tag && isAlive(p.pid));

async function waitRunning(count: number): Promise<void> {
  await waitFor(
    () => daemon.pids().filter((p) => p.kind === 'main' && isAlive(p.pid)).length >= count,
    15_000,
    `${count} running tasks\n${daemon.output.slice(-2000)}`,
  );
}

describe('status semantics', () => {
  it('done, incomplete, error_backoff with its timing, failed, killed without status; data comes back as prev_status', async () => {
    daemon.writeConfig(nodes({ h1: ['d1'] }, { backoff: [1, 'fail'] }), {
      done: { config: { status: 'done' } },
      incomplete: { config: { status: { result: 'incomplete', data: { cursor: 42 } } } },
      errors: { config: { status: 'error_backoff' } },
      nothing: { config: {} },
    });
    daemon.start();
    // Both error twice with the list [1, "fail"]: error_backoff (1 s), then failed.
    const rows = await daemon.waitForStatuses(
      (r) =>
        r.find((row) => row.job === 'errors')?.bits === B.FAILED &&
        r.find((row) => row.job === 'nothing')?.bits === B.FAILED,
      20_000,
      'errors and nothing to fail after their one backoff',
    );
    const of = (job: string) => rows.find((r) => r.job === job)!;
    assert.equal(of('done').bits, B.DONE);
    assert.match(of('nothing').data ?? '', /Failed to read a status/, 'exited without a status');
    // incomplete runs again at once, getting its data back as prev_status.
    await waitFor(
      () => daemon.pids().filter((p) => p.tag === 'incomplete-d1' && p.kind === 'main').length >= 2,
    );
    const args = daemon.pids().filter((p) => p.tag === 'incomplete-d1' && p.kind === 'main');
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const second = args
      .map(
        (p) =>
          JSON.parse(readFileSync(join(daemon.pidDir, `incomplete-d1-main-${p.pid}`), 'utf8')) as Record<
            string,
            unknown
          >,
      )
      .find((a) => a['prev_status']);
    assert.ok(second, 'a later run got prev_status');
    assert.deepEqual((second!['prev_status'] as { data: unknown }).data, { cursor: 42 });
    assert.deepEqual(second!['path_to_node'], ['inst', 'h1', 'd1']);
    assert.equal(second!['worker_node'], 'inst');
    // error_backoff: 1 s backoff, then the next error is failed (the list was [1, "fail"]).
    const errorRuns = daemon.pids().filter((p) => p.tag === 'errors-d1' && p.kind === 'main');
    assert.equal(errorRuns.length, 2);
  });

  it('a task killed without a status gets incomplete_backoff', async () => {
    daemon.writeConfig(nodes({ h1: ['d1'] }, { kill_orphan_tasks_after_sec: true }), { j: { config: LONG } });
    daemon.start();
    await waitRunning(1);
    daemon.writeConfig(nodes({ h1: ['d1'] }, { kill_orphan_tasks_after_sec: true }), {
      j: { enabled: false, config: LONG },
    });
    const rows = await daemon.waitForStatuses(
      (r) => r[0]?.bits === (B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF),
    );
    assert.match(rows[0]!.data!, /Task killed, no status returned/);
  });
});

/** The nice value of each thread of `pid`, by thread id. */
function threadNices(pid: number): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nices.set(Number(tid), getPriority(Number(tid)));
    } catch {
      // the thread ended meanwhile
    }
  }
  return nices;
}

describe('CPU priority', () => {
  it('every thread of the scheduler runs above its tasks (root): the event loop and the threads it waits on', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('raising a priority needs root (CAP_SYS_NICE)');
    daemon.writeConfig(nodes({ h1: ['d1'] }), { j: { config: LONG } });
    daemon.start();
    await waitRunning(1);
    const schedulerPid = daemon.child!.pid!;
    const nices = threadNices(schedulerPid);
    assert.ok(nices.size > 1, 'the scheduler has helper threads');
    for (const [tid, nice] of nices)
      assert.equal(nice, -20, `thread ${tid} of the scheduler is at nice ${nice}`);
    const task = daemon.pids().find((p) => p.kind === 'main' && isAlive(p.pid))!;
    assert.deepEqual(new Set(threadNices(task.pid).values()), new Set([0]), 'the task runs at its own nice');
  });
});

describe('orphans', () => {
  it('job deleted with delay 0: killed; the others go on', async () => {
    daemon.writeConfig(nodes(TWO, { kill_orphan_tasks_after_sec: 0 }), {
      gone: { config: LONG },
      stays: { config: LONG },
    });
    daemon.start();
    await waitRunning(4);
    daemon.writeConfig(nodes(TWO, { kill_orphan_tasks_after_sec: 0 }), { stays: { config: LONG } });
    await waitFor(
      () => running('gone-d1').length === 0 && running('gone-d2').length === 0,
      10_000,
      'orphans to die',
    );
    assert.equal(running('stays-d1').length, 2, 'main and child of the other job');
  });

  it('node disabled with delay N: alive before the deadline, dead after', async () => {
    daemon.writeConfig(nodes(TWO), { j: { config: LONG, kill_orphan_tasks_after_sec: 1.5 } });
    daemon.start();
    await waitRunning(2);
    const changed = Date.now();
    daemon.writeConfig(nodes({ h1: ['d1', 'd2'], d2: { disabled: true } }), {
      j: { config: LONG, kill_orphan_tasks_after_sec: 1.5 },
    });
    await sleep(1000);
    assert.equal(running('j-d2').length, 2, 'alive before the deadline');
    await waitFor(() => running('j-d2').length === 0, 10_000, 'orphan to die');
    assert.ok(Date.now() - changed >= 1500);
    assert.equal(running('j-d1').length, 2);
  });

  it('re-adding the node within the delay cancels the kill; a broken config kills nothing', async () => {
    const jobs = { j: { config: LONG, kill_orphan_tasks_after_sec: 2 } };
    daemon.writeConfig(nodes(TWO), jobs);
    daemon.start();
    await waitRunning(2);
    daemon.writeConfig(nodes({ h1: ['d1'] }), jobs);
    await sleep(700);
    daemon.writeConfig(nodes(TWO), jobs);
    await sleep(400);
    daemon.writeRaw('{ "bistro_settings": ');
    await sleep(3000);
    assert.equal(running('j-d2').length, 2, 'transient deletion and a broken file kill nothing');
    assert.equal(running('j-d1').length, 2);
  });

  it('unset, false or negative never kill', async () => {
    daemon.writeConfig(nodes(TWO), {
      a: { config: LONG },
      b: { config: LONG, kill_orphan_tasks_after_sec: false },
      c: { config: LONG, kill_orphan_tasks_after_sec: -1 },
    });
    daemon.start();
    await waitRunning(6);
    daemon.writeConfig(nodes({ h1: [] }), {});
    await sleep(1500);
    assert.equal(daemon.pids().filter((p) => isAlive(p.pid)).length, 12);
  });
});

describe('over-commit', () => {
  const limited = (limit: number, delay?: number) =>
    nodes(
      { h1: ['d1', 'd2', 'd3', 'd4'] },
      {
        resources: { host: { host_slots: { limit, default: 1 } } },
        ...(delay === undefined ? {} : { kill_tasks_exceeding_resources_after_sec: delay }),
        node_order: 'original',
      },
    );

  it('lowering a limit from 3 to 1 kills exactly the 2 newest tasks after the delay', async () => {
    daemon.writeConfig(limited(3, 1), { j: { config: LONG } });
    daemon.start();
    await waitRunning(3);
    const mains = daemon.pids().filter((p) => p.kind === 'main');
    daemon.writeConfig(limited(1, 1), { j: { config: LONG } });
    await sleep(500);
    assert.equal(mains.filter((p) => isAlive(p.pid)).length, 3, 'not before the delay');
    await waitFor(() => mains.filter((p) => isAlive(p.pid)).length === 1, 10_000, 'two victims');
    await sleep(500);
    assert.equal(mains.filter((p) => isAlive(p.pid)).length, 1, 'exactly two killed');
  });

  it('without the setting none is killed', async () => {
    daemon.writeConfig(limited(3), { j: { config: LONG } });
    daemon.start();
    await waitRunning(3);
    daemon.writeConfig(limited(1), { j: { config: LONG } });
    await sleep(1500);
    assert.equal(daemon.pids().filter((p) => p.kind === 'main' && isAlive(p.pid)).length, 3);
  });
});

describe('the scheduler process', () => {
  it('SIGTERM with 20 running multi-process tasks: all gone, statuses recorded, exit 0', async () => {
    const prefs = { h1: Array.from({ length: 20 }, (_, i) => `d${i}`) };
    daemon.writeConfig(nodes(prefs, { kill_subprocess: { method: 'term_wait_kill', kill_wait_ms: 500 } }), {
      j: { config: { ...LONG, children: 2, ignore_term: true } },
    });
    daemon.start();
    await waitRunning(20);
    await waitFor(() => daemon.pids().length >= 60, 10_000, '60 task processes');
    const pids = daemon.pids().map((p) => p.pid);
    assert.equal(pids.length, 60);
    const code = await daemon.stop('SIGTERM');
    assert.equal(code, 0, daemon.output.slice(-2000));
    assert.deepEqual(pids.filter(isAlive), []);
    const rows = daemon.statuses();
    assert.equal(rows.length, 20);
    assert.ok(
      rows.every((r) => r.bits === (B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF)),
      JSON.stringify(rows),
    );
  });

  it('SIGKILL, then restart: leftovers die before anything starts, never two live copies', async () => {
    const prefs = { h1: ['d1', 'd2', 'd3'] };
    daemon.writeConfig(nodes(prefs, { backoff: [1, 'repeat'] }), { j: { config: { ...LONG, children: 2 } } });
    daemon.start();
    await waitRunning(3);
    const before = daemon.pids().map((p) => p.pid);
    await daemon.stop('SIGKILL');
    await sleep(200);
    const survivors = before.filter(isAlive);
    assert.ok(survivors.length > 0, 'children outlive a SIGKILLed scheduler (they are in its cgroups)');
    daemon.start();
    await waitFor(() => before.every((pid) => !isAlive(pid)), 15_000, 'leftovers killed');
    await waitFor(() => daemon.output.includes('killed a task left running by a previous scheduler'));
    await waitRunning(3);
    assert.deepEqual(daemon.violations(), [], 'no (job, node) ran twice at once');
    const code = await daemon.stop('SIGTERM');
    assert.equal(code, 0);
  });

  it('the README example works as written (npm start)', async () => {
    const { PROJECT_ROOT } = await import('../helpers/cli.js');
    const { join } = await import('node:path');
    const { readFileSync } = await import('node:fs');
    const { spawn } = await import('node:child_process');
    // The start script as npm runs it (sh in the package root), with this test's data dir.
    const start = (
      JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
        scripts: { start: string };
      }
    ).scripts.start;
    const child = spawn('sh', ['-c', `exec ${start} --data-dir "$DATA_DIR"`], {
      cwd: PROJECT_ROOT,
      stdio: 'ignore',
      env: { ...process.env, DEMO_TASK_SECONDS: '0.1', DATA_DIR: daemon.dataDir },
    });
    daemon.child = child;
    daemon.exit = new Promise((resolve) => child.once('exit', resolve));
    const rows = await daemon.waitForStatuses(
      (r) => r.length === 4 && r.every((row) => row.bits === B.DONE),
      20_000,
      'the demo to finish',
    );
    assert.deepEqual(
      rows.map((r) => r.node),
      ['node11', 'node12', 'node21', 'node22'],
    );
    assert.equal(await daemon.stop('SIGINT'), 0);
  });

  it('refuses to start on a missing or broken config with a clear message', async () => {
    daemon.start();
    assert.equal(await daemon.exit, 1);
    assert.match(daemon.output, /config\.json: cannot read config \(file not found\)/);
  });

  it('exits 1 with a clear message when the API port is taken, having started no task', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as AddressInfo).port;
    try {
      daemon.writeConfig(nodes({ h1: ['d1', 'd2'] }), { j: { config: LONG } });
      daemon.start(['--http-port', String(port)]);
      const code = await Promise.race([daemon.exit, sleep(15_000).then(() => 'still running')]);
      assert.equal(code, 1, daemon.output.slice(-2000));
      assert.match(daemon.output, /EADDRINUSE/);
      assert.deepEqual(daemon.pids(), [], 'no task started');
    } finally {
      blocker.close();
    }
  });
});
