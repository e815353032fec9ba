/**
 * What one task's launch -> exit -> record path costs, step by step, each
 * measured alone many times on this machine (wall time per task; the steps
 * are synchronous or awaited one at a time, so wall time is their cost):
 *   - fork/exec/wait of /bin/true through the addon's spawnProcess (the floor in Node);
 *   - the same through the task launcher (one more exec);
 *   - creating and closing the five task pipes;
 *   - mkdir + rmdir of a task cgroup (v2), and cgroup.events reads;
 *   - the SQLite writes of one task (launch record, pid, status + removal);
 *   - one whole supervised /bin/true without and with a cgroup v2, for the totals.
 * Baseline in the same run: `xargs -P1 -n1 /bin/true`, the C floor per task.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCgroupMounts } from '../src/supervisor/containment/mounts.js';
import { launcherPath, native } from '../src/supervisor/native.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { ContainmentFactory } from '../src/supervisor/containment/containmentFactory.js';
import { StatusStore } from '../src/store/statusStore.js';
import type { TaskSubprocessOptions } from '../src/config/taskSubprocess.js';
import { DEFAULT_CGROUP_OPTIONS, DEFAULT_TASK_SUBPROCESS } from '../src/config/taskSubprocess.js';
import { printFigures, printMachine, round, type Figure } from './harness.js';

const RUNS = 400;
const SLICE = 'bistro-bench-steps.slice';

function perTaskUs(runs: number, started: number): number {
  return ((performance.now() - started) * 1000) / runs;
}

async function spawnAndWait(
  file: string,
  argv: readonly string[],
  fds: readonly number[] = [-1, -1, -1],
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    native().spawnProcess(
      file,
      argv,
      [],
      fds,
      (error) => {
        if (error) reject(error);
      },
      () => resolve(),
    );
  });
}

async function forkExec(runs: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < runs; i++) await spawnAndWait('/bin/true', ['/bin/true']);
  return perTaskUs(runs, started);
}

async function throughLauncher(runs: number): Promise<number> {
  const launcher = launcherPath();
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    // The launcher reports failures on fd 3: give it one, as the supervisor does.
    const [read, write] = native().createPipe();
    await spawnAndWait(launcher, [launcher, '--', '/bin/true'], [-1, -1, -1, write]);
    native().closeFd(read);
    native().closeFd(write);
  }
  return perTaskUs(runs, started);
}

function pipes(runs: number): number {
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    for (let p = 0; p < 5; p++) {
      const [read, write] = native().createPipe();
      native().closeFd(read);
      native().closeFd(write);
    }
  }
  return perTaskUs(runs, started);
}

function cgroupMkdirRmdir(root: string, runs: number): { mkdirRmdir: number; eventsRead: number } {
  const slice = join(root, SLICE);
  mkdirSync(slice, { recursive: true });
  try {
    let started = performance.now();
    for (let i = 0; i < runs; i++) {
      const dir = join(slice, `t${i}`);
      mkdirSync(dir);
      rmdirSync(dir);
    }
    const mkdirRmdir = perTaskUs(runs, started);
    const dir = join(slice, 'probe');
    mkdirSync(dir);
    started = performance.now();
    for (let i = 0; i < runs; i++) readFileSync(join(dir, 'cgroup.events'), 'utf8');
    const eventsRead = perTaskUs(runs, started);
    rmdirSync(dir);
    return { mkdirRmdir, eventsRead };
  } finally {
    rmdirSync(slice);
  }
}

function sqliteWrites(runs: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-steps-'));
  const store = new StatusStore(join(dir, 'statuses.sqlite'));
  try {
    const started = performance.now();
    for (let i = 0; i < runs; i++) {
      const task = {
        job: 'j',
        node: `n${i}`,
        invocationId: `i${i}`,
        startTime: Date.now() / 1000,
        charges: {},
        backoff: { next: { seconds: 15, noMoreBackoffs: false }, previousProgressSec: 0 },
        workerShard: 'bench',
      };
      store.recordLaunch(task, []);
      store.recordProcess(task.invocationId, { pid: 1, pidStartTime: 1, pgid: 1 });
      store.queueStatus(task.job, task.node, {
        bits: 4,
        time: Date.now() / 1000,
        backoffSec: 0,
        progressSec: 0,
      });
      store.flushAndRemoveLaunch(task.invocationId);
    }
    return perTaskUs(runs, started);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function supervised(runs: number, inCgroup: boolean): Promise<number> {
  const options: TaskSubprocessOptions = {
    ...DEFAULT_TASK_SUBPROCESS,
    cgroups: inCgroup ? { ...DEFAULT_CGROUP_OPTIONS, version: 'v2', slice: SLICE } : DEFAULT_CGROUP_OPTIONS,
  };
  // As the scheduler does: the environment converted once, not per task.
  const supervisor = new Supervisor({ containment: new ContainmentFactory(), env: { ...process.env } });
  let counter = 0;
  const one = async () => {
    const result = await supervisor.start({
      invocationId: `steps${++counter}`,
      argv: ['/bin/true'],
      cwd: '/tmp',
      options,
    }).done;
    if (result.launchFailure) throw new Error(result.launchFailure.message);
  };
  for (let i = 0; i < 20; i++) await one();
  const started = performance.now();
  for (let i = 0; i < runs; i++) await one();
  return perTaskUs(runs, started);
}

function xargsFloor(runs: number): number {
  const started = performance.now();
  execFileSync('xargs', ['-P1', '-n1', '/bin/true'], {
    input: Array.from({ length: runs }, (_, i) => String(i)).join('\n'),
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return perTaskUs(runs, started);
}

export async function runLaunchStepsBench(): Promise<void> {
  printMachine('steps');
  const root = readCgroupMounts().v2;
  const floor = xargsFloor(RUNS);
  const fork = await forkExec(RUNS);
  const launcher = await throughLauncher(RUNS);
  const pipeCost = pipes(RUNS);
  const cgroup = root ? cgroupMkdirRmdir(root, RUNS) : { mkdirRmdir: NaN, eventsRead: NaN };
  const sqlite = sqliteWrites(RUNS);
  const uncontained = await supervised(RUNS, false);
  let total = NaN;
  if (root) {
    try {
      total = await supervised(RUNS, true);
    } finally {
      rmdirSync(join(root, SLICE)); // every task cgroup in it was removed with its task
    }
  }
  const rows: [string, string, number][] = [
    ['xargs_floor_us', 'xargs -P1 /bin/true, per task (baseline)', floor],
    ['fork_exec_wait_us', 'posix_spawn /bin/true + wait (addon)', fork],
    ['launcher_fork_exec_wait_us', 'the same through the task launcher', launcher],
    ['five_pipes_us', 'create and close the five task pipes', pipeCost],
    ['cgroup_mkdir_rmdir_us', 'mkdir + rmdir of a v2 task cgroup', cgroup.mkdirRmdir],
    ['cgroup_events_read_us', 'one read of cgroup.events', cgroup.eventsRead],
    ['sqlite_task_writes_us', 'launch record, pid, status and removal (SQLite)', sqlite],
    ['supervised_no_cgroup_task_us', 'one whole supervised /bin/true, no cgroup', uncontained],
    ['supervised_task_us', 'one whole supervised /bin/true in a v2 cgroup', total],
  ];
  for (const [, what, value] of rows) console.log(`${what.padEnd(52)} ${round(value, 1)} µs`);
  const figures: Figure[] = rows.map(([metric, , value]) => ({
    metric,
    value: round(value, 1),
    unit: 'us',
    runs: RUNS,
  }));
  figures.push({
    metric: 'supervised_ratio_vs_xargs',
    value: round(floor / total, 3),
    unit: 'ratio',
    runs: RUNS,
  });
  printFigures('steps', figures);
}
