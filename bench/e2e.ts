/**
 * End-to-end throughput: the real `bistro scheduler` running 1 job x 5000
 * nodes of a trivial task (it only writes its status) with instance
 * concurrency 64, vs raw `child_process.spawn` of the same command 64 at a
 * time, vs GNU parallel -j64, vs `xargs -P64` (the C floor) -- all in the
 * same run. The scheduler and xargs run in five interleaved pairs (which
 * goes first alternates), so a slow spell of a shared machine hits both; the
 * median pair by ratio is reported. GNU parallel is installed with apt-get
 * if missing.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startScheduler, trivialJobConfig } from './schedulerProcess.js';
import { printFigures, printMachine, round, type Figure } from './harness.js';

const TASKS = 5000;
const CONCURRENCY = 64;
const SCRIPT = 'echo done > "$2"';
const PAIRS = 5;

async function rawSpawn(): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < TASKS) {
      next++;
      await new Promise<void>((resolve, reject) => {
        const child = spawn('/bin/sh', ['-c', SCRIPT, 'task', 'node', '/dev/null', '{}'], {
          stdio: 'ignore',
        });
        child.once('error', reject);
        child.once('exit', () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return TASKS / ((performance.now() - started) / 1000);
}

/**
 * The C floor: `xargs -P<concurrency>` running the same command, each
 * writing its status line to a file of its own, nothing else.
 */
function xargsRate(): number {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-xargs-'));
  const inputs = join(dir, 'inputs');
  writeFileSync(inputs, Array.from({ length: TASKS }, (_, i) => join(dir, `s${i}`)).join('\n'));
  const started = performance.now();
  execFileSync(
    'xargs',
    ['-a', inputs, `-P${CONCURRENCY}`, '-n1', '/bin/sh', '-c', 'echo done > "$1"', 'task'],
    {
      stdio: 'ignore',
    },
  );
  const rate = TASKS / ((performance.now() - started) / 1000);
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

function ensureParallel(): string | undefined {
  const which = () => spawnSync('sh', ['-c', 'command -v parallel'], { encoding: 'utf8' }).stdout.trim();
  if (!which()) {
    console.log('# GNU parallel is missing: installing it with apt-get');
    spawnSync('sh', [
      '-c',
      'apt-get install -y parallel >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y parallel >/dev/null 2>&1)',
    ]);
  }
  return which() || undefined;
}

function gnuParallel(binary: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-parallel-'));
  const inputs = join(dir, 'inputs');
  writeFileSync(inputs, Array.from({ length: TASKS }, (_, i) => `n${i}`).join('\n'));
  const started = performance.now();
  execFileSync(
    binary,
    [
      '-j',
      String(CONCURRENCY),
      '--will-cite',
      '-q',
      '-a',
      inputs,
      '/bin/sh',
      '-c',
      SCRIPT,
      'task',
      '{}',
      '/dev/null',
      '{}',
    ],
    { stdio: 'ignore' },
  );
  const rate = TASKS / ((performance.now() - started) / 1000);
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

async function daemon(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-e2e-'));
  const started = performance.now();
  const scheduler = startScheduler(dir, trivialJobConfig(TASKS, CONCURRENCY, SCRIPT));
  const dataDir = scheduler.dataDir;
  const db = () =>
    existsSync(join(dataDir, 'statuses.sqlite'))
      ? new Database(join(dataDir, 'statuses.sqlite'), { readonly: true })
      : undefined;
  let done = 0;
  while (done < TASKS) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const handle = db();
    if (!handle) continue;
    try {
      done = (handle.prepare('SELECT COUNT(*) AS n FROM statuses WHERE bits = 4').get() as { n: number }).n;
    } catch (error) {
      // The scheduler made the file but not yet its tables.
      if (!/no such table/.test((error as Error).message)) throw error;
    } finally {
      handle.close();
    }
    if (performance.now() - started > 300_000)
      throw new Error(`only ${done} of ${TASKS} tasks done after 300 s`);
  }
  const rate = TASKS / ((performance.now() - started) / 1000);
  await scheduler.stop();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

export async function runE2eBench(): Promise<void> {
  printMachine('e2e');
  const parallel = ensureParallel();
  const pairs: { ours: number; xargs: number }[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const xargsFirst = pair % 2 === 1;
    const before = xargsFirst ? xargsRate() : NaN;
    const scheduler = await daemon();
    const after = xargsFirst ? before : xargsRate();
    console.log(
      `pair ${pair + 1}: scheduler ${round(scheduler)}/s, xargs -P${CONCURRENCY} ${round(after)}/s`,
    );
    pairs.push({ ours: scheduler, xargs: after });
  }
  pairs.sort((a, b) => a.ours / a.xargs - b.ours / b.xargs);
  const { ours, xargs } = pairs[Math.floor(pairs.length / 2)]!;
  const raw = await rawSpawn();
  const gnu = parallel ? gnuParallel(parallel) : NaN;
  console.log(
    `${TASKS} trivial tasks, concurrency ${CONCURRENCY}: scheduler ${round(ours)}/s, raw spawn ${round(raw)}/s, GNU parallel ${round(gnu)}/s, xargs -P${CONCURRENCY} ${round(xargs)}/s`,
  );
  const context = { tasks: TASKS, concurrency: CONCURRENCY };
  const figures: Figure[] = [
    { metric: 'tasks_per_sec', value: round(ours), unit: 'tasks/s', ...context },
    { metric: 'raw_spawn_tasks_per_sec', value: round(raw), unit: 'tasks/s', ...context },
    { metric: 'gnu_parallel_tasks_per_sec', value: round(gnu), unit: 'tasks/s', ...context },
    { metric: 'ratio_vs_spawn', value: round(ours / raw, 3), unit: 'ratio', ...context },
    { metric: 'ratio_vs_gnu_parallel', value: round(ours / gnu, 3), unit: 'ratio', ...context },
    { metric: 'xargs_tasks_per_sec', value: round(xargs), unit: 'tasks/s', ...context },
    {
      metric: 'ratio_vs_xargs',
      value: round(ours / xargs, 3),
      unit: 'ratio',
      target: 0.8,
      pairs: PAIRS,
      all_pairs: pairs.map((pair) => round(pair.ours / pair.xargs, 3)).join(' '),
      ...context,
    },
  ];
  printFigures('e2e', figures);
}
