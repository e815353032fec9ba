/**
 * Remote workers against the local runner, in the same run, on one
 * throw-away PostgreSQL (fsync off as in the tests):
 * - tasks_per_sec: 1 job x 5000 trivial tasks through `--runner remote` and
 *   4 `bistro worker` processes on this machine (16 slots each), against
 *   `--runner local` on the same database and the same 64 slots
 *   (ratio_vs_local, target >= 0.7); nine interleaved pairs (each run on
 *   a fresh database dropped after it, the halves taking turns to go
 *   first), the median pair reported, every pair's ratio beside it: on a
 *   machine whose speed swings from one run to the next, single pairs
 *   range widely (0.65-1.06 on unchanged code), and the median of five
 *   still moved by +-0.03 from run to run;
 * - dispatch_latency_ms p50/p99: row inserted (its `dispatched_at`, the
 *   database's clock) -> task process running (the worker's clock right
 *   after the launcher's clone, on the addon's launch thread; one machine,
 *   so one clock) (target p50 <= 20 ms);
 * - partition_kill_margin_sec: a worker in a network namespace runs long
 *   tasks and its link is cut; the lease end (its last renewal as seen in
 *   the database + ttl) minus the moment its last task process was gone.
 *   Must be > 0 in every run; the smallest of RUNS is reported.
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresCluster } from '../test/helpers/postgres.js';
import { NetworkHost, netnsUnavailable } from '../test/helpers/netns.js';
import { startScheduler, startWorker, trivialJobConfig, type SchedulerProcess } from './schedulerProcess.js';
import { percentile, printFigures, printMachine, round, until, type Figure } from './harness.js';
import { countDone } from './postgres.js';

const TASKS = 5000;
const WORKERS = 4;
const SLOTS_PER_WORKER = 16;
const CONCURRENCY = WORKERS * SLOTS_PER_WORKER;
const SCRIPT = 'echo done > "$2"';
const PARTITION_RUNS = 3;
const PAIRS = 9;
const PARTITION_LEASE_SEC = 4;

async function waitDone(url: string, started: number): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if ((await countDone(url)) >= TASKS) return;
    if (performance.now() - started > 600_000) throw new Error(`not ${TASKS} tasks done after 600 s`);
  }
}

function config(remote: boolean): Record<string, unknown> {
  const base = trivialJobConfig(TASKS, CONCURRENCY, SCRIPT) as {
    bistro_settings: Record<string, unknown>;
  };
  if (remote)
    base.bistro_settings.resources = {
      instance: { concurrency: { limit: CONCURRENCY, default: 1 } },
      worker: { slots: { limit: SLOTS_PER_WORKER, default: 1 } },
    };
  return base;
}

/**
 * Every process logs to a file, as deployed: the workers' logs are read for
 * the latencies, and a scheduler whose log went nowhere would hide a cost
 * (~7 % of the local runner's CPU per task here) that the workers pay.
 */
const LOGGED = { captureOutput: true } as const;

async function localRun(url: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-dist-'));
  const started = performance.now();
  const scheduler = startScheduler(dir, config(false), ['--http-port', '0', '--database', url], LOGGED);
  await waitDone(url, started);
  const rate = TASKS / ((performance.now() - started) / 1000);
  await scheduler.stop();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

/** Workers first (registered), then the scheduler: the clock starts with the scheduler. */
async function remoteRun(url: string): Promise<{ rate: number; latencies: number[]; claims: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-dist-'));
  const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(dir, url, `w${i + 1}`));
  try {
    await until(() => workers.every((w) => /worker started/.test(w.output())), 'workers start');
    const started = performance.now();
    const scheduler = startScheduler(
      dir,
      config(true),
      ['--http-port', '0', '--database', url, '--runner', 'remote'],
      LOGGED,
    );
    await waitDone(url, started);
    const rate = TASKS / ((performance.now() - started) / 1000);
    await scheduler.stop();
    const figure = (name: string) =>
      workers.flatMap((w) =>
        [...w.output().matchAll(new RegExp(`"${name}":([\\d.]+)`, 'g'))].map((m) => Number(m[1])),
      );
    return { rate, latencies: figure('dispatch_latency_ms'), claims: figure('claim_latency_ms') };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One partition: the lease end minus the moment the worker's last task process was gone (s). */
async function partitionMargin(cluster: PostgresCluster, database: string, run: number): Promise<number> {
  const url = await cluster.createDatabase(`${database}_${run}`);
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-dist-'));
  const pids = join(dir, 'pids');
  mkdirSync(pids);
  const host = NetworkHost.create();
  let worker: SchedulerProcess | undefined;
  let scheduler: SchedulerProcess | undefined;
  const client = new pg.Client({ connectionString: url });
  try {
    const tasks = 8;
    const settings = trivialJobConfig(tasks, tasks, `echo $$ > ${pids}/$1; exec sleep 120`) as {
      bistro_settings: Record<string, unknown>;
    };
    settings.bistro_settings.resources = { worker: { slots: { limit: tasks, default: 1 } } };
    worker = startWorker(
      dir,
      cluster.urlVia(host.hostAddress, `${database}_${run}`),
      'partitioned',
      ['--worker-lease-sec', String(PARTITION_LEASE_SEC), '--kill-bound-sec', '0.5'],
      host.prefix('partitioned-host'),
    );
    await until(() => /worker started/.test(worker!.output()), 'the worker starts');
    scheduler = startScheduler(dir, settings, ['--http-port', '0', '--database', url, '--runner', 'remote']);
    const taskPids = () => readdirSync(pids).map((file) => Number(readFileSync(join(pids, file), 'utf8')));
    await until(() => readdirSync(pids).length === tasks, 'tasks run');
    await client.connect();
    let seq = '';
    let changedAt = performance.now();
    const look = async () => {
      const rows = await client.query<{ lease_seq: string }>(
        "SELECT lease_seq::text FROM workers WHERE name = 'partitioned' AND state = 'healthy'",
      );
      if (rows.rows[0] && rows.rows[0].lease_seq !== seq) {
        seq = rows.rows[0].lease_seq;
        changedAt = performance.now();
      }
    };
    // See a renewal first, then cut the link in the middle of a renewal interval.
    await look();
    const firstSeq = seq;
    while (seq === firstSeq) {
      if (performance.now() - changedAt > 10_000) throw new Error('no lease renewal seen');
      await new Promise((resolve) => setTimeout(resolve, 25));
      await look();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await look();
    host.partition();
    const alive = taskPids();
    let goneAt = 0;
    while (goneAt === 0) {
      if (alive.every((pid) => !isAlive(pid))) goneAt = performance.now();
      else await new Promise((resolve) => setTimeout(resolve, 5));
      if (performance.now() - changedAt > PARTITION_LEASE_SEC * 3000) break;
    }
    if (goneAt === 0) throw new Error('the partitioned worker’s tasks outlived three leases');
    return (changedAt + PARTITION_LEASE_SEC * 1000 - goneAt) / 1000;
  } finally {
    await client.end().catch(() => undefined);
    host.heal();
    await scheduler?.stop();
    await worker?.stop();
    host.destroy();
    for (const file of readdirSync(pids)) {
      const pid = Number(readFileSync(join(pids, file), 'utf8'));
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runDistributedBench(): Promise<void> {
  printMachine('distributed');
  const skip = netnsUnavailable();
  const cluster = await PostgresCluster.start({ forNamespaces: skip === undefined });
  try {
    // Interleaved pairs, so a slow spell of the machine hits both runners; the median pair is reported.
    // Each run gets a fresh database, dropped after it (its autovacuum must not run during the next
    // run), and the halves take turns going first.
    const onDatabase = async <T>(name: string, run: (url: string) => Promise<T>): Promise<T> => {
      const result = await run(await cluster.createDatabase(name));
      await cluster.dropDatabase(name);
      return result;
    };
    const pairs: { local: number; remote: { rate: number; latencies: number[]; claims: number[] } }[] = [];
    for (let pair = 0; pair < PAIRS; pair++) {
      const runLocal = () => onDatabase(`local_${pair}`, localRun);
      const runRemote = () => onDatabase(`remote_${pair}`, remoteRun);
      let local: number;
      let remote: Awaited<ReturnType<typeof remoteRun>>;
      if (pair % 2 === 0) {
        local = await runLocal();
        remote = await runRemote();
      } else {
        remote = await runRemote();
        local = await runLocal();
      }
      console.log(`pair ${pair + 1}: remote ${round(remote.rate)}/s, local ${round(local)}/s`);
      pairs.push({ local, remote });
    }
    pairs.sort((a, b) => a.remote.rate / a.local - b.remote.rate / b.local);
    const pairRatios = pairs.map((p) => round(p.remote.rate / p.local, 3)).join(' ');
    const { local, remote } = pairs[Math.floor(pairs.length / 2)]!;
    const margins: number[] = [];
    if (skip) console.log(`partition_kill_margin_sec not measured: ${skip}`);
    else
      for (let run = 0; run < PARTITION_RUNS; run++)
        margins.push(await partitionMargin(cluster, 'partition', run));
    const p50 = percentile(remote.latencies, 50);
    const p99 = percentile(remote.latencies, 99);
    console.log(
      `${TASKS} trivial tasks, ${CONCURRENCY} slots: remote (${WORKERS} workers) ${round(remote.rate)}/s, ` +
        `local runner ${round(local)}/s; dispatch latency p50 ${round(p50, 2)} ms, p99 ${round(p99, 2)} ms ` +
        `(${remote.latencies.length} tasks); partition kill margins ${margins.map((m) => round(m, 3)).join(', ')} s ` +
        `(worker lease ${PARTITION_LEASE_SEC} s)`,
    );
    const context = { tasks: TASKS, workers: WORKERS, slots: CONCURRENCY };
    const figures: Figure[] = [
      { metric: 'tasks_per_sec', value: round(remote.rate), unit: 'tasks/s', runner: 'remote', ...context },
      { metric: 'local_tasks_per_sec', value: round(local), unit: 'tasks/s', runner: 'local', ...context },
      {
        metric: 'ratio_vs_local',
        value: round(remote.rate / local, 3),
        unit: 'ratio',
        target: 0.7,
        ...context,
        pairs: PAIRS,
        pair_ratios: pairRatios,
      },
      {
        metric: 'dispatch_latency_ms_p50',
        value: round(p50, 2),
        unit: 'ms',
        target: 20,
        tasks: remote.latencies.length,
      },
      { metric: 'dispatch_latency_ms_p99', value: round(p99, 2), unit: 'ms', tasks: remote.latencies.length },
      {
        metric: 'claim_latency_ms_p50',
        value: round(percentile(remote.claims, 50), 2),
        unit: 'ms',
        part_of: 'dispatch_latency_ms: row inserted -> row claimed by its worker',
      },
    ];
    if (margins.length > 0)
      figures.push({
        metric: 'partition_kill_margin_sec',
        value: round(Math.min(...margins), 3),
        unit: 's',
        runs: margins.length,
        all_runs: margins.map((m) => round(m, 3)).join(' '),
        worker_lease_sec: PARTITION_LEASE_SEC,
        target: '> 0',
      });
    printFigures('distributed', figures);
  } finally {
    await cluster.stop();
  }
}
