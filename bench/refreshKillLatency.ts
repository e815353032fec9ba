/**
 * Kill latency while the node set is rebuilt: a real `bistro scheduler` on
 * a host -> db tree of `hosts` x 100 nodes, refreshing its nodes every
 * second (each refresh builds the whole set again, one host of it named
 * anew so the set always differs, and prepares its index), runs a few long
 * tasks; they are killed one at a time through the
 * REST API (`kill_task`) at random moments. The latency is from sending the
 * request to the task's process being gone (the benchmark's HTTP client
 * warmed by one query first).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, freePort } from '../test/helpers/http.js';
import { percentile, round, until, type Figure } from './harness.js';
import { startScheduler } from './schedulerProcess.js';

const RUNNING = 4;
const KILLS = 20;
/** A kill that takes longer fails the benchmark (the scheduler is then unusable, not slow). */
const KILL_WAIT_MS = 120_000;

/** The benchmark's node tree: `hosts` hosts of `dbsPerHost` dbs each. */
export function hostDbNodes(hosts: number, dbsPerHost: number): Record<string, unknown> {
  return {
    levels: ['host', 'db'],
    node_order: 'random',
    node_sources: [
      {
        source: 'range_label',
        prefs: { parent_level: 'instance', start: 1, end: hosts, format: 'host{i}' },
      },
      {
        source: 'range_label',
        prefs: { parent_level: 'host', start: 1, end: dbsPerHost, format: '{parent}.db{i}' },
      },
    ],
  };
}

/** Whether `pid` still runs (a zombie waiting for its parent to reap it does not). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function measureRefreshKillLatency(hosts: number): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bistro-bench-refresh-'));
  const pids = join(dir, 'pids');
  mkdirSync(pids);
  const port = await freePort();
  // One host named anew at every refresh: the node set differs each time, so every refresh
  // takes the whole path (a new index and masks prepared, then swapped in), not the shortcut
  // of a set found unchanged.
  const movingHost = join(dir, 'moving-host');
  writeFileSync(movingHost, '#!/bin/sh\necho "moving$(date +%s%N)"\n', { mode: 0o755 });
  const tree = hostDbNodes(hosts, 100);
  const config = {
    bistro_settings: {
      enabled: true,
      nodes: {
        ...tree,
        node_sources: [
          { source: 'script', prefs: { parent_level: 'instance', script: movingHost } },
          ...(tree['node_sources'] as unknown[]),
        ],
      },
      resources: { instance: { concurrency: { limit: RUNNING, default: 1 } } },
    },
    'bistro_job->sleeper': {
      owner: 'bench',
      command: ['/bin/sh', '-c', `echo $$ > ${pids}/"$1"; exec sleep 600`, 'task'],
    },
  };
  const scheduler = startScheduler(dir, config, ['--http-port', String(port), '--nodes-update-ms', '1000']);
  const running = () => readdirSync(pids);
  const latencies: number[] = [];
  try {
    await until(() => running().length > 0, 'the first tasks', 180_000);
    // This process's first request (its HTTP client's code compiled, a connection made) takes
    // ~40 ms even on an idle machine: made once before timing, with a query that changes nothing.
    await call(port, 'refresh_time', {});
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1000));
      await until(() => running().length > 0, 'a running task', 60_000);
      const node = running()[0]!;
      const pid = Number(readFileSync(join(pids, node), 'utf8'));
      unlinkSync(join(pids, node));
      const sent = performance.now();
      const answer = await call(port, 'kill_task', { job_id: 'sleeper', node_id: node });
      if (answer.error) throw new Error(`kill_task ${node}: ${answer.error}`);
      // Polled every ms: the figure's target is 50 ms.
      await until(() => !isRunning(pid), `the killed task on ${node} to be gone`, KILL_WAIT_MS, 1);
      latencies.push(performance.now() - sent);
    }
  } finally {
    await scheduler.stop();
    // The scheduler stops its tasks; anything a failed run left is killed here, by pid.
    if (existsSync(pids))
      for (const file of readdirSync(pids)) {
        const pid = Number(readFileSync(join(pids, file), 'utf8'));
        if (pid > 1 && isRunning(pid)) process.kill(pid, 'SIGKILL');
      }
    rmSync(dir, { recursive: true, force: true });
  }
  const nodes = hosts * 100;
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `kill through the API while ${nodes} nodes refresh every second: p50 ${round(p50)} ms, p99 ${round(p99)} ms, max ${round(Math.max(...latencies))} ms (${latencies.length} kills)`,
  );
  const context = { nodes, kills: latencies.length, nodes_update_ms: 1000 };
  return [
    { metric: 'refresh_kill_latency_ms_p50', value: round(p50), unit: 'ms', ...context },
    { metric: 'refresh_kill_latency_ms_p99', value: round(p99), unit: 'ms', target: 50, ...context },
  ];
}
