/**
 * The scheduler on PostgreSQL (--database) against itself on SQLite, in the
 * same run, on a throw-away cluster (Debian's postgresql, fsync off as in
 * the tests; synchronous_commit stays on):
 * - tasks_per_sec with each store for the e2e benchmark's trivial task,
 *   and ratio_vs_sqlite (target >= 0.7);
 * - failover_sec: SIGKILL of the leader -> the first task started by the
 *   standby (target <= leader lease ttl + 1 s);
 * - status write latency p50/p99: a task's completion (row delete + status
 *   upsert, one transaction) from queueing to commit, one at a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { leadWithWorker, PostgresCluster } from '../test/helpers/postgres.js';
import { PgStorage } from '../src/store/postgres/pgStorage.js';
import { StoreHealth } from '../src/store/storeHealth.js';
import type { RunningTask } from '../src/statuses/runningTask.js';
import { StatusBits as B } from '../src/statuses/taskStatus.js';
import { startScheduler, trivialJobConfig, type SchedulerProcess } from './schedulerProcess.js';
import { percentile, printFigures, printMachine, round, until, type Figure } from './harness.js';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';

const TASKS = 2000;
const CONCURRENCY = 64;
const SCRIPT = 'echo done > "$2"';
const LEADER_LEASE_SEC = 5;
const WRITES = 1000;

function throughputConfig(): Record<string, unknown> {
  return trivialJobConfig(TASKS, CONCURRENCY, SCRIPT);
}

async function waitDone(count: () => Promise<number>, started: number): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if ((await count()) >= TASKS) return;
    if (performance.now() - started > 300_000) throw new Error(`not ${TASKS} tasks done after 300 s`);
  }
}

async function sqliteRun(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-pg-'));
  const started = performance.now();
  const scheduler = startScheduler(dir, throughputConfig(), ['--http-port', '0']);
  const file = join(scheduler.dataDir, 'statuses.sqlite');
  await waitDone(async () => {
    if (!existsSync(file)) return 0;
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM statuses WHERE bits = 4').get() as { n: number }).n;
    } catch {
      return 0;
    } finally {
      db.close();
    }
  }, started);
  const rate = TASKS / ((performance.now() - started) / 1000);
  await scheduler.stop();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

/** Statuses `done` in the database at `url` (0 before the schema exists). */
export async function countDone(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const row = await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM statuses WHERE bits = 4');
    return Number(row.rows[0]!.n);
  } catch {
    return 0;
  } finally {
    await client.end();
  }
}

async function postgresRun(url: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-pg-'));
  const started = performance.now();
  const scheduler = startScheduler(dir, throughputConfig(), ['--http-port', '0', '--database', url]);
  await waitDone(() => countDone(url), started);
  const rate = TASKS / ((performance.now() - started) / 1000);
  await scheduler.stop();
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

/**
 * Leader SIGKILL -> first task started by the standby. The leader runs long
 * tasks (their rows stay reserved until its worker lease runs out); the
 * standby's config has one more job, which only a leader starts, so its
 * first start measures the takeover itself: lease expiry, the term bump,
 * loading state and the first pass.
 */
async function failover(url: string): Promise<number> {
  const settings = {
    enabled: true,
    working_wait: 0.1,
    nodes: {
      levels: ['shard'],
      node_sources: [
        { source: 'range_label', prefs: { parent_level: 'instance', start: 1, end: 4, format: 's{i}' } },
      ],
    },
    resources: { instance: { concurrency: { limit: 16, default: 1 } } },
  };
  const long = { owner: 'bench', command: ['/bin/sh', '-c', 'sleep 600; echo done > "$2"', 'task'] };
  const fresh = { owner: 'bench', command: ['/bin/sh', '-c', 'echo done > "$2"', 'task'] };
  const flags = [
    '--http-port',
    '0',
    '--database',
    url,
    '--leader-lease-sec',
    String(LEADER_LEASE_SEC),
    '--worker-lease-sec',
    '10',
    '--kill-bound-sec',
    '1',
  ];
  const dirs = [
    mkdtempSync(join(tmpdir(), 'bistro-bench-pg-')),
    mkdtempSync(join(tmpdir(), 'bistro-bench-pg-')),
  ];
  const leader = startScheduler(
    dirs[0]!,
    { bistro_settings: settings, 'bistro_job->long': long },
    [...flags, '--worker-name', 'first'],
    {
      captureOutput: true,
    },
  );
  let standby: SchedulerProcess | undefined;
  try {
    await until(
      () => (leader.output().match(/"msg":"task started"/g) ?? []).length >= 4,
      'the leader starts tasks',
    );
    standby = startScheduler(
      dirs[1]!,
      { bistro_settings: settings, 'bistro_job->long': long, 'bistro_job->fresh': fresh },
      [...flags, '--worker-name', 'second'],
      { captureOutput: true },
    );
    await until(() => /worker registered/.test(standby!.output()), 'the standby registers');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await until(() => /"msg":"task started"/.test(standby!.output()), 'the standby starts a task', 60_000);
    const line = standby
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"task started"'))!;
    const startedAt = (JSON.parse(line) as { time: number }).time;
    return (startedAt - killedAt) / 1000;
  } finally {
    await standby?.stop();
    await leader.stop();
    // The SIGKILLed leader left its task cgroups and identity lock: its own restart recovery
    // clears them (scheduling off, so it starts nothing), and a clean stop removes the rest.
    const recovery = startScheduler(dirs[0]!, { bistro_settings: { ...settings, enabled: false } }, flags, {
      captureOutput: true,
    });
    await until(() => /worker registered/.test(recovery.output()), 'the old leader recovers', 60_000).finally(
      () => recovery.stop(),
    );
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Completion latency: one task's row delete + final status upsert, queued to committed. */
async function statusWriteLatency(url: string): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-pg-'));
  const storage = await PgStorage.open({
    url,
    dataDir: dir,
    health: new StoreHealth(),
    term: () => 1,
    incarnation: () => 'bench',
    queryTimeoutMs: 5000,
  });
  try {
    await leadWithWorker(storage.pool, 'bench');
    const latencies: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      const task: RunningTask = {
        job: 'j',
        node: `n${i % 100}`,
        invocationId: `i${i}`,
        startTime: Date.now() / 1000,
        charges: {},
        backoff: { next: { seconds: 15, noMoreBackoffs: false }, previousProgressSec: 0 },
        workerShard: 'bench',
      };
      await storage.dispatch(task);
      const started = performance.now();
      storage.state.completeTask(
        task,
        { bits: B.DONE, time: Date.now() / 1000, backoffSec: 0, progressSec: 0 },
        false,
      );
      await storage.drain();
      latencies.push(performance.now() - started);
    }
    return latencies;
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runPostgresBench(): Promise<void> {
  printMachine('postgres');
  const cluster = await PostgresCluster.start();
  try {
    const sqlite = await sqliteRun();
    const shared = await postgresRun(await cluster.createDatabase('throughput'));
    const failoverSec = await failover(await cluster.createDatabase('failover'));
    const latencies = await statusWriteLatency(await cluster.createDatabase('latency'));
    console.log(
      `${TASKS} trivial tasks, concurrency ${CONCURRENCY}: PostgreSQL ${round(shared)}/s, SQLite ${round(sqlite)}/s; ` +
        `failover ${round(failoverSec)} s (leader lease ${LEADER_LEASE_SEC} s); ` +
        `status write p50 ${round(percentile(latencies, 50), 3)} ms, p99 ${round(percentile(latencies, 99), 3)} ms`,
    );
    const context = { tasks: TASKS, concurrency: CONCURRENCY };
    const figures: Figure[] = [
      { metric: 'tasks_per_sec', value: round(shared), unit: 'tasks/s', store: 'postgres', ...context },
      { metric: 'sqlite_tasks_per_sec', value: round(sqlite), unit: 'tasks/s', store: 'sqlite', ...context },
      { metric: 'ratio_vs_sqlite', value: round(shared / sqlite, 3), unit: 'ratio', target: 0.7, ...context },
      {
        metric: 'failover_sec',
        value: round(failoverSec, 3),
        unit: 's',
        leader_lease_sec: LEADER_LEASE_SEC,
        target: LEADER_LEASE_SEC + 1,
      },
      {
        metric: 'status_write_ms_p50',
        value: round(percentile(latencies, 50), 3),
        unit: 'ms',
        writes: WRITES,
      },
      {
        metric: 'status_write_ms_p99',
        value: round(percentile(latencies, 99), 3),
        unit: 'ms',
        writes: WRITES,
      },
    ];
    printFigures('postgres', figures);
  } finally {
    await cluster.stop();
  }
}
