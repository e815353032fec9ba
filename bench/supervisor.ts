/**
 * Supervisor benchmarks, each against its physical floor in the same run:
 *   - turnover of a trivial task vs raw child_process.spawn of the same command;
 *   - kill latency of a 50-process task vs a bare process.kill(-pgid, SIGKILL)
 *     on an identical tree (request -> every process gone);
 *   - CPU and RSS of a process hosting only the supervisor with 1000
 *     sleeping tasks, vs a bare Node process holding 1000 children with pipes;
 *   - log ingestion lines/s vs reading the same output from a raw spawn.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TASK_SUBPROCESS_WITHOUT_CGROUPS, type TaskSubprocessOptions } from '../src/config/taskSubprocess.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { percentile, printFigures, printMachine, round, type Figure } from './harness.js';
import { readPids, treeScript, waitAllGone } from './processTree.js';

const OPTIONS: TaskSubprocessOptions = TASK_SUBPROCESS_WITHOUT_CGROUPS;
let counter = 0;
const nextId = () => `bench${++counter}`;

async function rawSpawnRate(runs: number, argv: readonly string[] = ['/bin/true']): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
      child.once('error', reject);
      child.once('exit', () => resolve());
    });
  }
  return runs / ((performance.now() - started) / 1000);
}

/** The C floor for one task at a time: `xargs -P1 -n1 /bin/true` over `runs` items. */
function xargsRate(runs: number): number {
  const started = performance.now();
  execFileSync('xargs', ['-P1', '-n1', '/bin/true'], {
    input: Array.from({ length: runs }, (_, i) => String(i)).join('\n'),
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return runs / ((performance.now() - started) / 1000);
}

async function supervisedRate(supervisor: Supervisor, runs: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    const result = await supervisor.start({
      invocationId: nextId(),
      argv: ['/bin/true'],
      cwd: '/tmp',
      options: OPTIONS,
    }).done;
    if (result.launchFailure) throw new Error(`launch failed: ${result.launchFailure.message}`);
  }
  return runs / ((performance.now() - started) / 1000);
}

async function turnover(supervisor: Supervisor): Promise<Figure[]> {
  await rawSpawnRate(20);
  await supervisedRate(supervisor, 20);
  const raw: number[] = [];
  const ours: number[] = [];
  const wrapped: number[] = [];
  const xargs: number[] = [];
  for (let round_ = 0; round_ < 3; round_++) {
    xargs.push(xargsRate(150));
    raw.push(await rawSpawnRate(150));
    ours.push(await supervisedRate(supervisor, 150));
    // Any exec wrapper pays a second exec: the floor for a launcher.
    wrapped.push(await rawSpawnRate(150, ['/bin/sh', '-c', 'exec /bin/true']));
  }
  const rawRate = percentile(raw, 50);
  const ourRate = percentile(ours, 50);
  const wrapperRate = percentile(wrapped, 50);
  const floorRate = percentile(xargs, 50);
  console.log(
    `turnover: supervised ${round(ourRate)}/s, raw spawn ${round(rawRate)}/s, sh -c 'exec ...' wrapper ${round(wrapperRate)}/s, xargs -P1 ${round(floorRate)}/s`,
  );
  return [
    { metric: 'turnover_tasks_per_sec', value: round(ourRate), unit: 'tasks/s' },
    { metric: 'turnover_spawn_per_sec', value: round(rawRate), unit: 'tasks/s' },
    { metric: 'turnover_ratio_vs_spawn', value: round(ourRate / rawRate, 3), unit: 'ratio' },
    { metric: 'turnover_wrapper_ratio_vs_spawn', value: round(wrapperRate / rawRate, 3), unit: 'ratio' },
    { metric: 'turnover_xargs_per_sec', value: round(floorRate), unit: 'tasks/s' },
    { metric: 'turnover_ratio_vs_xargs', value: round(ourRate / floorRate, 3), unit: 'ratio' },
  ];
}

async function killLatency(supervisor: Supervisor, dir: string): Promise<Figure[]> {
  const size = 50;
  const ours: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 15; i++) {
    const oursFile = join(dir, `ours${i}`);
    const task = supervisor.start({
      invocationId: nextId(),
      argv: ['/bin/sh', '-c', treeScript(size), 'sh', oursFile],
      cwd: dir,
      options: OPTIONS,
    });
    const oursPids = await readPids(oursFile, size);
    let started = performance.now();
    supervisor.kill(task.invocationId, { method: 'kill', killWaitMs: 0 });
    ours.push(await waitAllGone(oursPids, started));
    await task.done;

    const bareFile = join(dir, `bare${i}`);
    const child = spawn('/bin/sh', ['-c', treeScript(size), 'sh', bareFile], {
      stdio: 'ignore',
      detached: true,
    });
    const barePids = await readPids(bareFile, size);
    started = performance.now();
    process.kill(-child.pid!, 'SIGKILL');
    bare.push(await waitAllGone(barePids, started));
  }
  const p50 = percentile(ours, 50);
  const baseline = percentile(bare, 50);
  console.log(
    `kill latency (${size} processes): supervised p50 ${round(p50)} ms, bare group kill p50 ${round(baseline)} ms`,
  );
  return [
    {
      metric: 'kill_latency_ms_p50',
      value: round(p50),
      unit: 'ms',
      processes: size,
      strategy: 'process_group',
    },
    {
      metric: 'kill_baseline_ms_p50',
      value: round(baseline),
      unit: 'ms',
      processes: size,
      strategy: 'process_group',
    },
    {
      metric: 'kill_ratio_vs_baseline',
      value: round(p50 / baseline, 3),
      unit: 'ratio',
      processes: size,
      strategy: 'process_group',
    },
  ];
}

/** RSS of a bare Node process holding `count` sleeping children with 4 pipes each. */
async function bareHolderRssMb(count: number): Promise<number> {
  const script = `
    const { spawn } = require('node:child_process');
    const children = [];
    for (let i = 0; i < ${count}; i++) children.push(spawn('sleep', ['1000'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] }));
    setTimeout(() => {
      process.stdout.write(String(process.memoryUsage().rss));
      for (const c of children) c.kill('SIGKILL');
      setTimeout(() => process.exit(0), 200);
    }, 3000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  return Number(out) / 2 ** 20;
}

/** CPU and RSS of a process that hosts only the supervisor (bench/idleSupervisor.ts). */
async function idleTasks(): Promise<Figure[]> {
  const count = 1000;
  const script = fileURLToPath(new URL('./idleSupervisor.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`idle supervisor exited with ${String(code)}`);
  const {
    cpuPct,
    rssMb: rss,
    wallSec,
  } = JSON.parse(out) as { cpuPct: number; rssMb: number; wallSec: number };
  const baseline = await bareHolderRssMb(count);
  console.log(
    `${count} sleeping tasks: supervisor CPU ${round(cpuPct, 3)}% of a core over ${round(wallSec, 1)} s, RSS ${round(rss, 1)} MB (bare holder ${round(baseline, 1)} MB)`,
  );
  return [
    { metric: 'idle_cpu_pct_1000_tasks', value: round(cpuPct, 3), unit: '% of one core', tasks: count },
    { metric: 'rss_mb_1000_tasks', value: round(rss, 1), unit: 'MB', tasks: count },
    { metric: 'rss_mb_bare_holder_1000_children', value: round(baseline, 1), unit: 'MB', tasks: count },
  ];
}

async function logIngestion(supervisor: Supervisor): Promise<Figure[]> {
  const lines = 1_000_000;
  let received = 0;
  const counting = new Supervisor({ onLog: () => received++ });
  const started = performance.now();
  await counting.start({
    invocationId: nextId(),
    argv: ['seq', '1', String(lines)],
    cwd: '/tmp',
    options: { ...OPTIONS, maxLogLinesPerPollInterval: 0 },
  }).done;
  const ours = received / ((performance.now() - started) / 1000);
  if (received !== lines) throw new Error(`received ${received} of ${lines} lines`);

  const rawStarted = performance.now();
  let rawLines = 0;
  await new Promise<void>((resolve) => {
    const child = spawn('seq', ['1', String(lines)], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) rawLines++;
    });
    child.once('close', () => resolve());
  });
  const raw = rawLines / ((performance.now() - rawStarted) / 1000);
  void supervisor;
  console.log(
    `log ingestion: ${round(ours)} lines/s supervised (rate limit off), raw pipe read ${round(raw)} lines/s`,
  );
  return [
    { metric: 'log_lines_per_sec', value: round(ours), unit: 'lines/s' },
    { metric: 'log_lines_per_sec_raw_pipe', value: round(raw), unit: 'lines/s' },
  ];
}

export async function runSupervisorBench(): Promise<void> {
  printMachine('supervisor');
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-'));
  const supervisor = new Supervisor();
  try {
    const figures = [
      ...(await turnover(supervisor)),
      ...(await killLatency(supervisor, dir)),
      ...(await idleTasks()),
      ...(await logIngestion(supervisor)),
    ];
    printFigures('supervisor', figures);
  } finally {
    await supervisor.stopAll({ method: 'kill', killWaitMs: 0 }, 'benchmark');
    rmSync(dir, { recursive: true, force: true });
  }
}
