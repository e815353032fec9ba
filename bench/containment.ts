/**
 * Containment benchmarks: kill latency (request -> every process of a
 * 50-process tree gone) per strategy, each against the bare mechanism on an
 * identical tree in the same run, and the start overhead of containment.
 *   - cgroup_v2: write cgroup.kill by hand;
 *   - cgroup_v1_freezer: freeze, SIGKILL every pid, thaw by hand;
 *   - pid_namespace: SIGKILL the namespace's init by hand;
 *   - process_group: process.kill(-pgid, SIGKILL).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_CGROUP_OPTIONS,
  DEFAULT_TASK_SUBPROCESS,
  type TaskSubprocessOptions,
} from '../src/config/taskSubprocess.js';
import { readCgroupMounts } from '../src/supervisor/containment/mounts.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { percentile, printFigures, printMachine, round, type Figure } from './harness.js';
import { readPids, waitAllGone } from './processTree.js';

const SLICE = 'bistro-bench.slice';
const SIZE = 50;
const RUNS = 25;
const mounts = readCgroupMounts();
const NONE = { ...DEFAULT_CGROUP_OPTIONS, slice: SLICE };

/** A tree of SIZE processes that report their host pids (also inside a PID namespace). */
const REPORT = 'cut -d" " -f4 /proc/self/stat >> "$1"';
const TREE = `${REPORT}; i=1; while [ $i -lt ${SIZE} ]; do sh -c '${REPORT}; exec sleep 1000' sh "$1" & i=$((i+1)); done; wait`;

interface Strategy {
  readonly name: string;
  readonly options: TaskSubprocessOptions;
  /** Starts an identical tree outside the supervisor; returns how to kill it the bare way. */
  readonly bare: (
    pidFile: string,
    index: number,
  ) => Promise<{ pids: number[]; kill: () => void; cleanup: () => void }>;
}

function cgroupTree(dir: string, pidFile: string): void {
  mkdirSync(dir, { recursive: true });
  spawn('/bin/sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')}; ${TREE}`, 'sh', pidFile], {
    stdio: 'ignore',
    detached: true,
  }).unref();
}

const STRATEGIES: Strategy[] = [
  {
    name: 'process_group',
    options: { ...DEFAULT_TASK_SUBPROCESS, cgroups: NONE },
    bare: async (pidFile) => {
      const child = spawn('/bin/sh', ['-c', TREE, 'sh', pidFile], { stdio: 'ignore', detached: true });
      const pids = await readPids(pidFile, SIZE);
      return { pids, kill: () => process.kill(-child.pid!, 'SIGKILL'), cleanup: () => undefined };
    },
  },
  {
    name: 'cgroup_v2',
    options: { ...DEFAULT_TASK_SUBPROCESS, cgroups: { ...NONE, version: 'v2' } },
    bare: async (pidFile, index) => {
      const dir = join(mounts.v2!, SLICE, `bare${index}`);
      cgroupTree(dir, pidFile);
      const pids = await readPids(pidFile, SIZE);
      return {
        pids,
        kill: () => writeFileSync(join(dir, 'cgroup.kill'), '1'),
        cleanup: () => rmdirSync(dir),
      };
    },
  },
  {
    name: 'cgroup_v1_freezer',
    options: { ...DEFAULT_TASK_SUBPROCESS, cgroups: { ...NONE, subsystems: ['freezer'] } },
    bare: async (pidFile, index) => {
      const dir = join(mounts.v1.get('freezer')!, SLICE, `bare${index}`);
      cgroupTree(dir, pidFile);
      const pids = await readPids(pidFile, SIZE);
      const kill = () => {
        writeFileSync(join(dir, 'freezer.state'), 'FROZEN');
        while (readFileSync(join(dir, 'freezer.state'), 'utf8').trim() !== 'FROZEN');
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
          process.kill(Number(pid), 'SIGKILL');
        writeFileSync(join(dir, 'freezer.state'), 'THAWED');
      };
      return { pids, kill, cleanup: () => rmdirSync(dir) };
    },
  },
  {
    name: 'pid_namespace',
    options: { ...DEFAULT_TASK_SUBPROCESS, cgroups: NONE, pidNamespace: true },
    bare: async (pidFile) => {
      spawn('unshare', ['--pid', '--fork', '/bin/sh', '-c', TREE, 'sh', pidFile], {
        stdio: 'ignore',
        detached: true,
      }).unref();
      const pids = await readPids(pidFile, SIZE);
      // The first pid reported is the namespace's init (the shell unshare forked).
      return { pids, kill: () => process.kill(pids[0]!, 'SIGKILL'), cleanup: () => undefined };
    },
  },
];

async function killLatency(strategy: Strategy, supervisor: Supervisor, dir: string): Promise<Figure[]> {
  const ours: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const oursFile = join(dir, `${strategy.name}-ours${i}`);
    const task = supervisor.start({
      invocationId: `${strategy.name}-${i}`,
      argv: ['/bin/sh', '-c', TREE, 'sh', oursFile],
      cwd: dir,
      options: strategy.options,
    });
    const oursPids = await readPids(oursFile, SIZE);
    let started = performance.now();
    supervisor.kill(task.invocationId, { method: 'kill', killWaitMs: 0 });
    ours.push(await waitAllGone(oursPids, started));
    await task.done;

    const bareTree = await strategy.bare(join(dir, `${strategy.name}-bare${i}`), i);
    started = performance.now();
    bareTree.kill();
    bare.push(await waitAllGone(bareTree.pids, started));
    await new Promise((resolve) => setTimeout(resolve, 20));
    bareTree.cleanup();
  }
  const p50 = percentile(ours, 50);
  const baseline = percentile(bare, 50);
  console.log(
    `${strategy.name}: kill latency p50 ${round(p50)} ms vs bare ${round(baseline)} ms (${SIZE} processes)`,
  );
  const context = { strategy: strategy.name, processes: SIZE };
  return [
    { metric: 'kill_latency_ms_p50', value: round(p50), unit: 'ms', ...context },
    { metric: 'kill_baseline_ms_p50', value: round(baseline), unit: 'ms', ...context },
    { metric: 'kill_ratio_vs_baseline', value: round(p50 / baseline, 3), unit: 'ratio', ...context },
  ];
}

async function startOverhead(
  supervisor: Supervisor,
  strategy: Strategy,
  baseline: Strategy,
): Promise<Figure> {
  const rate = async (options: TaskSubprocessOptions) => {
    const started = performance.now();
    for (let i = 0; i < 100; i++)
      await supervisor.start({
        invocationId: `start-${Math.random()}`,
        argv: ['/bin/true'],
        cwd: '/tmp',
        options,
      }).done;
    return (performance.now() - started) / 100;
  };
  await rate(baseline.options);
  const samples = [];
  for (let i = 0; i < 3; i++) samples.push((await rate(strategy.options)) / (await rate(baseline.options)));
  const ratio = percentile(samples, 50);
  console.log(
    `${strategy.name}: start-to-complete time of a trivial task ${round(ratio, 3)}x that without containment`,
  );
  return { metric: 'start_overhead_ratio', value: round(ratio, 3), unit: 'ratio', strategy: strategy.name };
}

export async function runContainmentBench(): Promise<void> {
  printMachine('containment');
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-'));
  const supervisor = new Supervisor();
  const figures: Figure[] = [];
  try {
    const available = STRATEGIES.filter((s) => {
      const missing =
        (s.name === 'cgroup_v2' && !mounts.v2) ||
        (s.name === 'cgroup_v1_freezer' && !mounts.v1.has('freezer'));
      if (missing) console.log(`# ${s.name}: not available on this host, skipped`);
      return !missing;
    });
    for (const strategy of available) figures.push(...(await killLatency(strategy, supervisor, dir)));
    for (const strategy of available.slice(1))
      figures.push(await startOverhead(supervisor, strategy, STRATEGIES[0]!));
    printFigures('containment', figures);
  } finally {
    await supervisor.stopAll({ method: 'kill', killWaitMs: 0 }, 'benchmark');
    for (const mount of [mounts.v2, mounts.v1.get('freezer')]) {
      try {
        if (mount) rmdirSync(join(mount, SLICE));
      } catch {
        // Not created, or not empty: reported by the tests' leftover checks, not here.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
