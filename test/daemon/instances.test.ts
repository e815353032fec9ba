/**
 * Several schedulers on one host, as operators run them: each owns its data
 * dir, its identity and its cgroup sub-tree, and never touches another's
 * tasks -- at start, at a crash and restart, or at a stop. Stops always end.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { StatusBits as B } from '../../src/statuses/taskStatus.js';
import { readCgroupMounts } from '../../src/supervisor/containment/mounts.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { isAlive, sleep, waitFor } from '../helpers/processes.js';

const mounts = readCgroupMounts();
let daemons: DaemonProcess[] = [];
/** Scratch dirs of schedulers that were refused (their data dir is another's). */
let scratch: string[] = [];
const strangers: ChildProcess[] = [];

beforeEach(() => {
  daemons = [];
  scratch = [];
});
afterEach(async () => {
  // The stranger reuses a recorded pid: it must be gone before the leak check reads the pid files.
  const killed = strangers.splice(0);
  for (const child of killed) child.kill('SIGKILL');
  await waitFor(() => killed.every((child) => !isAlive(child.pid!)), 5000, 'the strangers to die');
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  for (const daemon of daemons.reverse()) {
    const left = await daemon.cleanup();
    assert.deepEqual(left, { pids: [], cgroups: [] }, 'no task process or task cgroup left behind');
  }
});

function newDaemon(options: { dataDir?: string } = {}): DaemonProcess {
  const daemon = new DaemonProcess(options);
  daemons.push(daemon);
  return daemon;
}

const LONG = { sleep_sec: 1000, children: 1 };
/** No `cgroups` key: the default containment, under the default slice every config shares. */
const DEFAULT_CONTAINMENT = { task_subprocess: {} };
const PROCESS_GROUPS = { task_subprocess: { cgroups: { subsystems: [] } } };

const settings = (extra: Record<string, unknown> = {}) => ({
  nodes: { levels: ['host', 'db'], node_sources: [{ source: 'manual', prefs: { h1: ['d1', 'd2'] } }] },
  resources: {},
  ...extra,
});

const liveMains = (daemon: DaemonProcess) =>
  daemon
    .pids()
    .filter((p) => p.kind === 'main' && isAlive(p.pid))
    .map((p) => p.pid);

async function waitRunning(daemon: DaemonProcess, count: number): Promise<number[]> {
  await waitFor(
    () => liveMains(daemon).length >= count,
    15_000,
    `${count} running tasks\n${daemon.output.slice(-2000)}`,
  );
  return daemon.pids().map((p) => p.pid);
}

async function crashAndRestart(daemon: DaemonProcess, running: number): Promise<void> {
  const before = daemon.pids().map((p) => p.pid);
  await daemon.stop('SIGKILL');
  daemon.start();
  await waitFor(() => before.every((pid) => !isAlive(pid)), 15_000, 'its own leftovers killed');
  await waitFor(() => liveMains(daemon).length >= running, 15_000, `${running} tasks running again`);
}

describe('several schedulers on one host', () => {
  it("with default containment, neither kills the other's tasks: at start, at a crash and restart of either", async () => {
    const a = newDaemon();
    const b = newDaemon();
    const retry = { ...DEFAULT_CONTAINMENT, backoff: [1, 'repeat'] };
    a.writeConfig(settings(retry), { ja: { config: LONG } });
    b.writeConfig(settings(retry), { jb: { config: LONG } });
    a.start();
    const aPids = await waitRunning(a, 2);
    b.start();
    await waitRunning(b, 2);
    assert.notEqual(a.instanceId(), b.instanceId());
    await sleep(300);
    assert.deepEqual(
      aPids.filter((pid) => !isAlive(pid)),
      [],
      "B's start killed none of A's tasks",
    );

    await crashAndRestart(b, 2);
    assert.deepEqual(
      aPids.filter((pid) => !isAlive(pid)),
      [],
      "B's restart recovery killed none of A's tasks",
    );
    assert.match(b.output, /killed a task left running by a previous scheduler/);

    const bNow = b
      .pids()
      .filter((p) => isAlive(p.pid))
      .map((p) => p.pid);
    await crashAndRestart(a, 2);
    assert.deepEqual(
      bNow.filter((pid) => !isAlive(pid)),
      [],
      "A's restart recovery killed none of B's tasks",
    );
    for (const daemon of [a, b]) {
      assert.ok(
        daemon.statuses().every((row) => !String(row.data).includes('Failed to read a status')),
        JSON.stringify(daemon.statuses()),
      );
    }
    assert.deepEqual([...a.violations(), ...b.violations()], [], 'no (job, node) ran twice at once');
    assert.equal(await b.stop('SIGTERM'), 0);
    assert.equal(liveMains(a).length, 2, "B's stop left A's tasks alone");
    assert.equal(await a.stop('SIGTERM'), 0);
    assert.deepEqual(a.defaultSliceCgroups(), [], 'a clean stop leaves no task cgroup');
  });

  it('a second scheduler on a data dir in use, or on a copy of one, is refused with a clear message', async () => {
    const a = newDaemon();
    a.writeConfig(settings(DEFAULT_CONTAINMENT), { ja: { config: LONG } });
    a.start();
    const aPids = await waitRunning(a, 2);

    const same = new DaemonProcess({ dataDir: a.dataDir });
    scratch.push(same.dir);
    same.writeConfig(settings(DEFAULT_CONTAINMENT), { ja: { config: LONG } });
    same.start();
    assert.equal(await same.exit, 1);
    assert.match(same.output, /data dir .* is in use by another scheduler \(pid \d+\)/);

    const copy = new DaemonProcess();
    scratch.push(copy.dir);
    cpSync(a.dataDir, copy.dataDir, { recursive: true });
    copy.writeConfig(settings(DEFAULT_CONTAINMENT), { ja: { config: LONG } });
    copy.start();
    assert.equal(await copy.exit, 1);
    assert.match(copy.output, /carries the identity .* it was copied or moved/);

    assert.deepEqual(
      aPids.filter((pid) => !isAlive(pid)),
      [],
      'the refused schedulers touched nothing',
    );
    assert.equal(await a.stop('SIGTERM'), 0);
  });

  it("restart recovery spares a stranger that reused a dead task's pid", async (t) => {
    const daemon = newDaemon();
    daemon.writeConfig(settings({ ...PROCESS_GROUPS, backoff: [1, 'repeat'] }), {
      j: { config: { sleep_sec: 1000 } },
    });
    daemon.start();
    await waitRunning(daemon, 2);
    const dead = liveMains(daemon);
    await daemon.stop('SIGKILL');
    // The tasks die with the scheduler (parent-death signal); their records stay.
    await waitFor(() => dead.every((pid) => !isAlive(pid)), 5000, 'the tasks to die with the scheduler');
    const stranger = await spawnWithPid(dead[0]!);
    if (!stranger) {
      const reason = `could not get pid ${dead[0]} back through ns_last_pid (the host forks too much)`;
      console.log(`# skipped: ${reason}`);
      return t.skip(reason);
    }
    daemon.start();
    await waitFor(() => daemon.output.includes('restart recovery finished'), 15_000, 'recovery');
    await waitRunning(daemon, 2);
    assert.ok(isAlive(stranger.pid!), 'the stranger with a reused pid (its own session and group) survives');
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });
});

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Spawns `setsid sleep` with exactly `pid`, through ns_last_pid; undefined if another fork got it first. */
async function spawnWithPid(pid: number): Promise<ChildProcess | undefined> {
  // A zombie still holds its pid until its new parent reaps it.
  await waitFor(() => !existsSync(`/proc/${pid}`), 20_000, `pid ${pid} to be reaped`);
  for (let attempt = 0; attempt < 50; attempt++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
    strangers.push(child);
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
    await sleep(5);
  }
  return undefined;
}

describe('a stop always ends', () => {
  const escapes = [
    {
      name: 'process groups only: a descendant that called setsid keeps the canary pipe',
      escape: 'setsid',
      extra: PROCESS_GROUPS,
    },
    {
      name: 'cgroup v2: a descendant that moved itself to the root cgroup keeps the canary pipe',
      escape: 'root_cgroup',
      extra: {},
    },
  ] as const;
  for (const { name, escape, extra } of escapes) {
    it(name, async () => {
      const daemon = newDaemon();
      const killWaitMs = 300;
      daemon.writeConfig(
        settings({ ...extra, kill_subprocess: { method: 'term_wait_kill', kill_wait_ms: killWaitMs } }),
        {
          j: {
            config: {
              sleep_sec: 1000,
              escape,
              root_cgroup_procs: join(mounts.v2 ?? '/sys/fs/cgroup/unified', 'cgroup.procs'),
            },
          },
        },
      );
      const graceMs = 500;
      daemon.start(['--stop-grace-ms', String(graceMs)]);
      await waitRunning(daemon, 2);
      await waitFor(() => daemon.pids().filter((p) => p.kind === 'child').length >= 2, 5000, 'the escapes');
      const escaped = daemon
        .pids()
        .filter((p) => p.kind === 'child')
        .map((p) => p.pid);
      // Escaped for real: past `echo ... > cgroup.procs`, `sh` has exec'd `sleep`.
      await waitFor(() => escaped.every((pid) => comm(pid) === 'sleep'), 5000, 'the escapes to settle');
      assert.ok(escaped.every(isAlive));
      const started = performance.now();
      const code = await daemon.stop('SIGTERM');
      const tookMs = performance.now() - started;
      assert.equal(code, 0, daemon.output.slice(-3000));
      // kill_wait_ms + the grace, then SIGKILL of everything in reach; generous slack for a loaded host.
      assert.ok(tookMs < killWaitMs + graceMs + 5000, `the stop took ${tookMs} ms`);
      await waitFor(() => escaped.every((pid) => !isAlive(pid)), 5000, 'the escaped descendants to die');
      assert.match(daemon.output, /killed escaped descendants of a task/);
      const rows = daemon.statuses();
      assert.equal(rows.length, 2);
      assert.ok(
        rows.every((r) => r.bits & B.INCOMPLETE),
        JSON.stringify(rows),
      );
    });
  }

  it('a second SIGTERM goes to the SIGKILL step at once', async () => {
    const daemon = newDaemon();
    daemon.writeConfig(settings({ kill_subprocess: { method: 'term_wait_kill', kill_wait_ms: 60_000 } }), {
      j: { config: { sleep_sec: 1000, ignore_term: true } },
    });
    daemon.start();
    await waitRunning(daemon, 2);
    const started = performance.now();
    daemon.child!.kill('SIGTERM');
    await sleep(300);
    daemon.child!.kill('SIGTERM');
    assert.equal(await daemon.exit, 0);
    assert.ok(performance.now() - started < 10_000, 'did not wait for kill_wait_ms');
  });
});

describe('outside kills and host limits', () => {
  it('a task killed by someone else is recorded with the signal and logged as a warning', async () => {
    const daemon = newDaemon();
    daemon.writeConfig(settings({ backoff: [60, 'fail'] }), { j: { config: { sleep_sec: 1000 } } });
    daemon.start();
    const [pid] = await waitRunning(daemon, 2);
    process.kill(pid!, 'SIGKILL');
    const rows = await daemon.waitForStatuses(
      (r) => r.some((row) => (row.data ?? '').includes('outside signal')),
      10_000,
      'the outside kill',
    );
    const row = rows.find((r) => (r.data ?? '').includes('outside signal'))!;
    assert.equal(row.bits & B.ERROR, B.ERROR);
    assert.match(row.data!, /killed by an outside signal 9 \(SIGKILL\)/);
    await waitFor(() => daemon.output.includes('task was killed by an outside signal'));
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });

  it('a hard memory limit runs limited where cgroup v2 has no memory controller (cgroup v1), or is refused at load', async () => {
    const daemon = newDaemon();
    const memoryFile = join(daemon.dir, 'limit');
    daemon.writeConfig(
      settings({
        resources: { host: { ram_gb: { limit: 8, default: 1 } } },
        physical_resources: {
          ram_mb: { logical_resource: 'ram_gb', multiply_logical_by: 64, enforcement: 'hard' },
        },
      }),
      {
        mem: {
          command: [
            '/bin/sh',
            '-c',
            `cat "${mounts.v1.get('memory') ?? '/nonexistent'}$(grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' /proc/self/cgroup | cut -d: -f3)/memory.limit_in_bytes" > "${memoryFile}.$1"; echo done > "$2"`,
            'sh',
          ],
        },
      },
    );
    daemon.start();
    const v2Controllers = readFileSync(join(mounts.v2!, 'cgroup.controllers'), 'utf8');
    if (!v2Controllers.includes('memory') && mounts.v1.has('memory')) {
      const rows = await daemon.waitForStatuses(
        (r) => r.length === 2 && r.every((row) => row.bits === B.DONE),
      );
      assert.equal(rows.length, 2);
      assert.equal(readFileSync(`${memoryFile}.d1`, 'utf8').trim(), String(64 * 1024 * 1024));
    } else {
      console.log('# this host enforces the limit in cgroup v2; the task just runs');
      await daemon.waitForStatuses((r) => r.length === 2 && r.every((row) => row.bits === B.DONE));
    }
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });
});
