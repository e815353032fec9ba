/**
 * The config in PostgreSQL as a task queue (--config-in-database), on a
 * throw-away cluster (fsync off as in the tests; synchronous_commit on):
 * - submit_jobs_per_sec: 10,000 one-task jobs through `save_job` while the
 *   scheduler runs them (target >= 500/s), against the same number of
 *   single-row INSERTs from as many clients in the same run (the floor:
 *   one round trip and one commit each), as ratio_vs_insert;
 * - propagation_ms: the last save's answer -> the scheduler lists the job;
 * - pass_ms_p50 with 10,000 one-task jobs, saturated (target <= 50 ms),
 *   the config assembled entry by entry as the database loader does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresCluster } from '../test/helpers/postgres.js';
import { freePort } from '../test/helpers/http.js';
import { measureTaskQueue } from './scheduler.js';
import { countDone } from './postgres.js';
import { startDatabaseConfigScheduler } from './schedulerProcess.js';
import { printFigures, printMachine, round, type Figure } from './harness.js';

const BISTRO = fileURLToPath(new URL('../bin/bistro.js', import.meta.url));
const JOBS = 10_000;
const CLIENTS = 16;
const TASK_CONCURRENCY = 16;
const SCRIPT = 'echo done > "$2"';

async function post(
  port: number,
  body: unknown,
): Promise<Record<string, { data?: unknown; error?: string }>> {
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await response.json()) as Record<string, { data?: unknown; error?: string }>;
}

/** Runs `work(i)` for i in [0, count) on `clients` concurrent loops; returns the seconds taken. */
async function concurrently(
  count: number,
  clients: number,
  work: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < count; i = next++) await work(i);
    }),
  );
  return (performance.now() - started) / 1000;
}

async function insertFloor(url: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: CLIENTS });
  try {
    await pool.query('CREATE TABLE bench_floor (id int PRIMARY KEY, value json NOT NULL)');
    const seconds = await concurrently(JOBS, CLIENTS, async (i) => {
      await pool.query('INSERT INTO bench_floor VALUES ($1, $2)', [i, JSON.stringify({ owner: 'bench', i })]);
    });
    return JOBS / seconds;
  } finally {
    await pool.end();
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function submitRun(url: string): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-config-'));
  const base = join(dir, 'base.json');
  writeFileSync(
    base,
    JSON.stringify({
      bistro_settings: {
        enabled: true,
        nodes: { levels: [], node_sources: [] },
        resources: { instance: { concurrency: { limit: TASK_CONCURRENCY, default: 1 } } },
      },
    }),
  );
  const imported = spawnSync(process.execPath, [BISTRO, 'config', 'import', base, '--database', url], {
    encoding: 'utf8',
  });
  if (imported.status !== 0) throw new Error(`import failed: ${imported.stderr}`);
  const port = await freePort();
  const scheduler = startDatabaseConfigScheduler(dir, url, [
    '--http-port',
    String(port),
    '--api-allow-command',
    '--leader-lease-sec',
    '3',
  ]);
  try {
    await waitFor(
      'the scheduler leads',
      async () =>
        ((await post(port, { q: { handler: 'leader' } }))['q']?.data as { role?: string })?.role === 'leader',
      30_000,
    );
    const refused: string[] = [];
    const started = performance.now();
    const seconds = await concurrently(JOBS, CLIENTS, async (i) => {
      const answer = await post(port, {
        q: {
          handler: 'save_job',
          job_id: `task${i}`,
          job: { owner: 'bench', command: ['/bin/sh', '-c', SCRIPT, 'task'] },
        },
      });
      if (answer['q']?.data !== 'saved') refused.push(answer['q']?.error ?? 'no answer');
    });
    const savedAt = performance.now();
    if (refused.length > 0) throw new Error(`${refused.length} saves refused, first: ${refused[0]}`);
    await waitFor(
      'the scheduler lists the last job',
      async () => {
        const jobs = (await post(port, { q: { handler: 'jobs', jobs: [`task${JOBS - 1}`] } }))['q']?.data;
        return typeof jobs === 'object' && jobs !== null && `task${JOBS - 1}` in jobs;
      },
      60_000,
    );
    const propagationMs = performance.now() - savedAt;
    await waitFor('every queued task done', async () => (await countDone(url)) >= JOBS, 600_000);
    const drainedSec = (performance.now() - started) / 1000;
    return [
      {
        metric: 'submit_jobs_per_sec',
        value: round(JOBS / seconds),
        unit: 'jobs/s',
        jobs: JOBS,
        clients: CLIENTS,
      },
      { metric: 'propagation_ms', value: round(propagationMs), unit: 'ms', jobs: JOBS },
      {
        metric: 'queue_tasks_per_sec',
        value: round(JOBS / drainedSec),
        unit: 'tasks/s',
        jobs: JOBS,
        concurrency: TASK_CONCURRENCY,
      },
    ];
  } finally {
    await scheduler.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runConfigBench(): Promise<void> {
  printMachine('config');
  const cluster = await PostgresCluster.start();
  try {
    const insertRate = await insertFloor(await cluster.createDatabase('bench_floor'));
    const submit = await submitRun(await cluster.createDatabase('bench_config'));
    const rate = submit.find((figure) => figure.metric === 'submit_jobs_per_sec')!.value;
    console.log(
      `${JOBS} jobs through save_job from ${CLIENTS} clients: ${rate} jobs/s; ` +
        `the same number of single-row INSERTs: ${round(insertRate)} rows/s`,
    );
    const queue = await measureTaskQueue(JOBS);
    printFigures('config', [
      ...submit,
      {
        metric: 'insert_rows_per_sec',
        value: round(insertRate),
        unit: 'rows/s',
        rows: JOBS,
        clients: CLIENTS,
      },
      { metric: 'ratio_vs_insert', value: round(rate / insertRate), unit: 'x', jobs: JOBS },
      ...queue.filter((figure) => figure.metric === 'pass_ms_p50' || figure.metric === 'first_pass_ms'),
    ]);
  } finally {
    await cluster.stop();
  }
}
