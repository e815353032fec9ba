/**
 * REST API under load: 200 concurrent task_logs / histogram queries over
 * loopback while 100 tasks log, and the kill latency of a 50-process task
 * (kill_task request -> every process gone) during that load, against the
 * same kill with the API idle in the same run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launcherPath } from '../src/supervisor/native.js';
import { startScheduler } from './schedulerProcess.js';
import { percentile, printFigures, printMachine, round, type Figure } from './harness.js';
import { isAlive, readPids, treeScript, waitAllGone } from './processTree.js';

const LOGGERS = 100;
const CONCURRENT = 200;
/** The scheduler is another process: poll for the processes' end without spinning a core it needs. */
const POLL_MS = 1;

/** Sends rounds of CONCURRENT queries for a few seconds; prints every latency as JSON. */
const LOAD_SCRIPT = `
const [port, concurrent, loggers, seconds] = process.argv.slice(1).map(Number);
const latencies = [];
async function call(query) {
  const started = performance.now();
  const response = await fetch('http://127.0.0.1:' + port + '/', { method: 'POST', body: JSON.stringify({ q: query }) });
  const body = await response.json();
  if (!response.ok || body.q.error) throw new Error(JSON.stringify(body));
  latencies.push(performance.now() - started);
}
(async () => {
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    await Promise.all(Array.from({ length: concurrent }, (_, i) => i % 2 === 0
      ? call({ handler: 'task_logs', log_type: 'stdout', jobs: ['logger'], nodes: ['s' + ((i % loggers) + 1)], sort: 'desc', regex_filter: 'line' })
      : call({ handler: 'histogram', num_samples: 5 })));
  }
  process.stdout.write(JSON.stringify(latencies));
})();
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function call(port: number, query: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    body: JSON.stringify({ q: query }),
  });
  const body = (await response.json()) as { q?: { error?: string } };
  if (!response.ok || body.q?.error) throw new Error(`query failed: ${JSON.stringify(body)}`);
  return performance.now() - started;
}

/**
 * The physical floor under the same load: an identical tree killed with
 * process.kill(-pgid, SIGKILL). Identical includes its place in the CPU
 * scheduler: like the scheduler's tasks, it leads a process group in this
 * session (the task launcher with --setpgid, then exec), not a session of its
 * own, which with the kernel's autogroups would give its 50 dying processes a
 * CPU share of their own under this load.
 */
async function bareKill(dir: string, round_: number): Promise<number> {
  const file = join(dir, `bare-${round_}`);
  const child = spawn(launcherPath(), ['--setpgid', '--', '/bin/sh', '-c', treeScript(50), 'sh', file], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  const pids = await readPids(file, 50, 20_000);
  const started = performance.now();
  process.kill(-child.pid!, 'SIGKILL');
  return waitAllGone(pids, started, undefined, POLL_MS);
}

/**
 * One kept-alive HTTP/1.1 connection for the kill requests. Its write is a
 * plain syscall at the timestamp, so the figure is the scheduler's latency,
 * not a client library's turns through this process's event loop.
 */
class KillConnection {
  private received = Buffer.alloc(0);
  private onResponse: ((body: string) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.takeResponse();
    });
  }

  static open(port: number): Promise<KillConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new KillConnection(socket)));
      socket.once('error', reject);
    });
  }

  post(query: Record<string, unknown>): Promise<string> {
    const body = JSON.stringify({ q: query });
    const response = new Promise<string>((resolve) => (this.onResponse = resolve));
    this.socket.write(
      `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    return response;
  }

  close(): void {
    this.socket.destroy();
  }

  private takeResponse(): void {
    const headerEnd = this.received.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const head = this.received.subarray(0, headerEnd).toString('latin1');
    const length = Number(/^content-length: *(\d+)$/im.exec(head)?.[1] ?? 0);
    const end = headerEnd + 4 + length;
    if (this.received.length < end) return;
    const body = this.received.subarray(headerEnd + 4, end).toString('utf8');
    this.received = this.received.subarray(end);
    if (!/^HTTP\/1\.1 200/.test(head))
      throw new Error(`kill request failed: ${head.split('\r\n')[0]} ${body}`);
    const done = this.onResponse;
    this.onResponse = undefined;
    done?.(body);
  }
}

/** Waits for the tree task's next run (50 more pids, all alive), then kills it through the API. */
async function killOnce(connection: KillConnection, dir: string, round_: number): Promise<number> {
  const file = join(dir, 'tree-pids');
  const deadline = Date.now() + 20_000;
  let mine: number[];
  for (;;) {
    const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    mine = pids.slice(50 * round_, 50 * (round_ + 1));
    if (mine.length === 50 && mine.every(isAlive)) break;
    if (Date.now() > deadline) throw new Error(`the tree task did not run again (round ${round_})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const started = performance.now();
  // Latency is request -> every process gone; the reply may come later under load (query latency).
  const [, gone] = await Promise.all([
    connection.post({ handler: 'kill_task', job_id: 'tree', node_id: 'tree' }).then((body) => {
      const answer = JSON.parse(body) as { q?: { error?: string } };
      if (answer.q?.error) throw new Error(`kill_task failed: ${answer.q.error}`);
    }),
    waitAllGone(mine, started, undefined, POLL_MS),
  ]);
  return gone;
}

export async function runApiBench(): Promise<void> {
  printMachine('api');
  const dir = mkdtempSync(join(tmpdir(), 'bistro-api-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'tree.sh'),
    `#!/bin/sh\n${treeScript(50).replace(/"\$1"/g, `"${join(dir, 'tree-pids')}"`)}\n`,
    { mode: 0o755 },
  );
  const config = {
    bistro_settings: {
      enabled: true,
      working_wait: 0.2,
      backoff: [1, 'repeat'],
      nodes: {
        levels: ['shard'],
        node_sources: [
          {
            source: 'range_label',
            prefs: { parent_level: 'instance', start: 1, end: LOGGERS, format: 's{i}' },
          },
          { source: 'manual', prefs: { tree: [] } },
        ],
      },
      resources: {},
      kill_subprocess: { method: 'kill' },
    },
    'bistro_job->logger': {
      owner: 'bench',
      command: [
        '/bin/sh',
        '-c',
        'i=0; while :; do echo "line $i from $1"; i=$((i+1)); sleep 0.1; done',
        'task',
      ],
      filters: { shard: { blacklist: ['tree'] } },
    },
    'bistro_job->tree': {
      owner: 'bench',
      command: [join(dir, 'tree.sh')],
      filters: { shard: { whitelist: ['tree'] } },
    },
  };
  const daemon = startScheduler(dir, config, ['--http-port', String(port)]);
  try {
    // Wait for the API and for the loggers to be running.
    for (let i = 0; ; i++) {
      try {
        await call(port, { handler: 'errors' });
        break;
      } catch {
        if (i > 200) throw new Error('the scheduler API did not come up');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const killer = await KillConnection.open(port);
    const idleKill = [await killOnce(killer, dir, 0)];
    // The load runs in its own process, so the kill measurement below does not share an event loop with it.
    const loadSeconds = 30;
    const loader = spawn(
      process.execPath,
      ['-e', LOAD_SCRIPT, String(port), String(CONCURRENT), String(LOGGERS), String(loadSeconds)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let loaderOutput = '';
    loader.stdout.on('data', (chunk: Buffer) => (loaderOutput += chunk.toString()));
    const loaderExit = new Promise((resolve) => loader.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const loadKills: number[] = [];
    const bareKills: number[] = [];
    const deadline = performance.now() + (loadSeconds - 3) * 1000;
    let round_ = 1;
    while (performance.now() < deadline) {
      loadKills.push(await killOnce(killer, dir, round_++));
      bareKills.push(await bareKill(dir, round_));
    }
    await loaderExit;
    killer.close();
    const latencies = JSON.parse(loaderOutput) as number[];
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const killUnderLoad = percentile(loadKills, 50);
    const bareUnderLoad = percentile(bareKills, 50);
    console.log(
      `${latencies.length} queries (${CONCURRENT} concurrent) while ${LOGGERS} tasks log: p50 ${round(p50)} ms, p99 ${round(p99)} ms; ` +
        `kill of a 50-process task under load p50 ${round(killUnderLoad)} ms vs a bare group kill under the same load ` +
        `${round(bareUnderLoad)} ms (idle ${round(idleKill[0]!)} ms, ${loadKills.length} kills)`,
    );
    const figures: Figure[] = [
      {
        metric: 'query_latency_ms_p50',
        value: round(p50),
        unit: 'ms',
        concurrent: CONCURRENT,
        logging_tasks: LOGGERS,
      },
      {
        metric: 'query_latency_ms_p99',
        value: round(p99),
        unit: 'ms',
        concurrent: CONCURRENT,
        logging_tasks: LOGGERS,
      },
      { metric: 'kill_latency_ms_p50_under_load', value: round(killUnderLoad), unit: 'ms', processes: 50 },
      { metric: 'kill_latency_ms_idle', value: round(idleKill[0]!), unit: 'ms', processes: 50 },
      { metric: 'kill_baseline_ms_p50_under_load', value: round(bareUnderLoad), unit: 'ms', processes: 50 },
      {
        metric: 'kill_ratio_vs_baseline_under_load',
        value: round(killUnderLoad / bareUnderLoad, 3),
        unit: 'ratio',
        processes: 50,
      },
    ];
    printFigures('api', figures);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
