/**
 * Remote workers on one PostgreSQL, each worker a host of its own (a
 * network namespace with its own host name): placement and worker
 * resources, and what happens to a worker's tasks when it is partitioned,
 * paused, killed or stopped, and when the leader fails over. Every task
 * holds an flock on a per-node file while it runs, so two live copies of
 * a node leave a violation behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort } from '../helpers/http.js';
import { isAlive, sleep, waitFor } from '../helpers/processes.js';
import { PostgresCluster, postgresUnavailable } from '../helpers/postgres.js';
import { NetworkHost, netnsUnavailable } from '../helpers/netns.js';
import { runBistro } from '../helpers/cli.js';
import { browserMissing, launchChromium } from '../../bench/browser.js';

const PLACED_TASK = fileURLToPath(new URL('../fixtures/tasks/placed_task.sh', import.meta.url));
const WORKER_ROLE_SQL = fileURLToPath(new URL('../../examples/worker-role.sql', import.meta.url));
const DONE = 4;

let cluster: PostgresCluster | undefined;
let databases = 0;

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface FleetOptions {
  /** host -> its nodes */
  readonly hosts: Record<string, string[]>;
  readonly sleepSec: number;
  readonly slots: number;
  readonly hostPlacement: boolean;
  readonly selector?: 'roundrobin' | 'busiest';
  /** `working_wait` and `idle_wait` (Bistro's defaults when absent). */
  readonly passWaitSec?: number;
}

/** One test's database, schedulers, worker hosts and shared task dir, and their cleanup. */
class Fleet {
  readonly dir = mkdtempSync(join(tmpdir(), 'bistro-remote-'));
  readonly lockDir = join(this.dir, 'locks');
  readonly logDir = join(this.dir, 'log');
  private readonly schedulers: DaemonProcess[] = [];
  private readonly workers: DaemonProcess[] = [];
  private readonly namespaces: (NetworkHost | undefined)[] = [];
  url = '';
  private database = '';

  constructor(private readonly options: FleetOptions) {}

  async open(): Promise<void> {
    this.database = `remote_${++databases}`;
    this.url = await cluster!.createDatabase(this.database);
  }

  async scheduler(name: string, leaderLeaseSec = 2): Promise<{ daemon: DaemonProcess; port: number }> {
    const { options } = this;
    const daemon = new DaemonProcess();
    daemon.writeConfig(
      {
        nodes: {
          levels: ['host', 'db'],
          node_sources: [{ source: 'manual', prefs: options.hosts }],
        },
        resources: { worker: { slots: { limit: options.slots, default: 1, weight: 1 } } },
        remote_worker_selector: options.selector ?? 'roundrobin',
        kill_orphan_tasks_after_sec: 0,
        ...(options.passWaitSec !== undefined
          ? { working_wait: options.passWaitSec, idle_wait: options.passWaitSec }
          : {}),
      },
      {
        j: {
          command: [PLACED_TASK, this.lockDir, this.logDir, String(options.sleepSec)],
          backoff: [1, 'repeat'],
          ...(options.hostPlacement ? { level_for_host_placement: 'host' } : {}),
        },
      },
    );
    const port = await freePort();
    this.schedulers.push(daemon);
    daemon.start([
      '--database',
      this.url,
      '--runner',
      'remote',
      '--worker-name',
      name,
      '--leader-lease-sec',
      String(leaderLeaseSec),
      '--http-port',
      String(port),
    ]);
    await daemon.withOutput(waitFor(() => /REST API listening/.test(daemon.output), 15_000, `${name} API`));
    return { daemon, port };
  }

  /** A worker named `name` on its own host `hostName` (a network namespace). */
  async worker(name: string, hostName: string, leaseSec: number): Promise<DaemonProcess> {
    const host = NetworkHost.create();
    this.namespaces.push(host);
    const daemon = new DaemonProcess({ command: 'worker', prefix: host.prefix(hostName) });
    this.workers.push(daemon);
    daemon.start([
      '--database',
      cluster!.urlVia(host.hostAddress, this.database),
      '--worker-name',
      name,
      '--worker-lease-sec',
      String(leaseSec),
      '--kill-bound-sec',
      '0.5',
    ]);
    await daemon.withOutput(waitFor(() => /worker started/.test(daemon.output), 15_000, `${name} starts`));
    return daemon;
  }

  /** A worker this test started itself; cleaned up with the rest. */
  adopt(worker: DaemonProcess): void {
    this.workers.push(worker);
    this.namespaces.push(undefined);
  }

  networkOf(worker: DaemonProcess): NetworkHost {
    return this.namespaces[this.workers.indexOf(worker)]!;
  }

  /** Nodes whose status is done. */
  async done(): Promise<string[]> {
    const rows = await query<{ node: string; bits: number }>(this.url, 'SELECT node, bits FROM statuses');
    return rows.filter((row) => row.bits & DONE).map((row) => row.node);
  }

  allNodes(): string[] {
    return Object.values(this.options.hosts).flat();
  }

  /** "node host" per start, in order. */
  placements(): [string, string][] {
    const file = join(this.logDir, 'placements');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]);
  }

  /** Markers of tasks running now: host -> count. */
  runningByHost(): Map<string, number> {
    const counts = new Map<string, number>();
    if (!existsSync(this.logDir)) return counts;
    for (const name of readdirSync(this.logDir)) {
      const match = /^running-(.+)-[^-]+-\d+$/.exec(name);
      if (match) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1);
    }
    return counts;
  }

  /** Live task pids (the sleep of each run), by node. */
  livePids(nodes?: readonly string[]): number[] {
    const dir = join(this.logDir, 'pids');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((name) => !nodes || nodes.includes(name.slice(0, name.lastIndexOf('-'))))
      .map((name) => Number(name.slice(name.lastIndexOf('-') + 1)))
      .filter(isAlive);
  }

  violations(): string[] {
    return existsSync(this.lockDir) ? readdirSync(this.lockDir).filter((n) => n.startsWith('VIOLATION')) : [];
  }

  /** The test's clock when `worker`'s lease_seq last changed, polled until `until` resolves. */
  watchLease(name: string, until: Promise<unknown>): { lastChange: () => number } {
    let seq = '';
    let changedAt = performance.now();
    let stop = false;
    void until.finally(() => (stop = true));
    const poll = async () => {
      while (!stop) {
        const rows = await query<{ lease_seq: string }>(
          this.url,
          "SELECT lease_seq::text FROM workers WHERE name = $1 AND state = 'healthy'",
          [name],
        ).catch(() => []);
        if (rows[0] && rows[0].lease_seq !== seq) {
          seq = rows[0].lease_seq;
          changedAt = performance.now();
        }
        await sleep(25);
      }
    };
    void poll();
    return { lastChange: () => changedAt };
  }

  /** Stops workers (resumed first) and schedulers, kills what tasks left, removes namespaces; returns leaked pids. */
  async cleanup(): Promise<number[]> {
    for (const daemon of [...this.workers, ...this.schedulers]) {
      daemon.child?.kill('SIGCONT');
      await daemon.cleanup();
    }
    for (const host of this.namespaces) host?.destroy();
    const left = this.livePids();
    for (const pid of left) process.kill(pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    return left;
  }
}

const skipReason = postgresUnavailable() ?? netnsUnavailable() ?? browserMissing();
if (skipReason) {
  console.log(`# remote worker tests skipped: ${skipReason}`);
} else {
  describe('remote workers on one PostgreSQL', () => {
    before(async () => {
      cluster = await PostgresCluster.start({ forNamespaces: true });
    });
    after(async () => {
      await cluster?.stop();
    });

    it('places every task on its host, never above a worker’s slots, and reports workers', async () => {
      const fleet = new Fleet({
        hosts: { h1: ['a1', 'a2', 'a3', 'a4', 'a5'], h2: ['b1', 'b2', 'b3', 'b4', 'b5'] },
        sleepSec: 0.6,
        slots: 2,
        hostPlacement: true,
      });
      try {
        await fleet.open();
        const { daemon: scheduler, port } = await fleet.scheduler('s');
        await fleet.worker('w1', 'h1', 4);
        await fleet.worker('w2', 'h2', 4);
        const most = new Map<string, number>();
        await scheduler.withOutput(
          waitFor(
            async () => {
              for (const [host, count] of fleet.runningByHost())
                most.set(host, Math.max(most.get(host) ?? 0, count));
              return (await fleet.done()).length === fleet.allNodes().length;
            },
            30_000,
            'every node done',
          ),
        );
        for (const [node, host] of fleet.placements())
          assert.equal(host, node.startsWith('a') ? 'h1' : 'h2', `${node} ran on ${host}`);
        assert.equal(fleet.placements().length, 10, 'each node ran once');
        assert.ok((most.get('h1') ?? 0) <= 2 && (most.get('h2') ?? 0) <= 2, `at once: ${[...most]}`);
        assert.equal(most.get('h1'), 2, 'both slots of h1 were used');
        const workers = (await call(port, 'workers')).data as {
          name: string;
          host: string;
          state: string;
          reported: { cpu_cores: number; ram_mb: number };
          available: Record<string, number> | null;
        }[];
        const healthy = workers.filter((w) => w.state === 'healthy');
        assert.deepEqual(healthy.map((w) => [w.name, w.host]).sort(), [
          ['w1', 'h1'],
          ['w2', 'h2'],
        ]);
        assert.ok(healthy.every((w) => w.reported.cpu_cores > 0 && w.reported.ram_mb > 0));
        // Each worker registered a notification channel of its own and listens on it.
        const channels = await query<{ name: string; channel: string | null; listening: boolean }>(
          fleet.url,
          `SELECT w.name, w.channel, EXISTS (SELECT 1 FROM pg_stat_activity a
             WHERE a.application_name = 'bistro listen ' || w.channel) AS listening
           FROM workers w WHERE w.state = 'healthy' ORDER BY w.name`,
        );
        assert.deepEqual(
          channels.map((c) => [c.name, c.listening]),
          [
            ['w1', true],
            ['w2', true],
          ],
        );
        assert.ok(channels.every((c) => /^bistro_dispatch_[0-9a-f]{16}$/.test(c.channel ?? '')));
        assert.notEqual(channels[0]!.channel, channels[1]!.channel);
        const cli = runBistro(['workers', '--url', `http://127.0.0.1:${port}`]);
        assert.equal(cli.status, 0, cli.stderr);
        assert.match(cli.stdout, /w1\s+h1\s+healthy/);
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assert.match(metrics, /bistro_workers\{state="healthy"\} 2/);
        // The UI's Workers page lists them.
        const browser = await launchChromium();
        try {
          const page = await browser.newPage();
          await page.goto(`http://127.0.0.1:${port}/#/workers`);
          await page.waitForSelector('tr[data-worker="w2"]');
          assert.match((await page.textContent('tr[data-worker="w1"]')) ?? '', /w1\s*h1\s*healthy/);
        } finally {
          await browser.close();
        }
        // Lines a worker wrote name it.
        const logs = (await call(port, 'task_logs', { log_type: 'statuses', jobs: ['j'], nodes: ['a1'] }))
          .data as {
          lines: unknown[][];
        };
        assert.ok(
          logs.lines.some((line) => line[5] === 'w1'),
          JSON.stringify(logs.lines.slice(0, 2)),
        );
        assert.deepEqual(fleet.violations(), []);
      } finally {
        assert.deepEqual(await fleet.cleanup(), [], 'no task process leaked');
      }
    });

    for (const fault of ['partition', 'SIGSTOP', 'SIGKILL'] as const) {
      it(`a worker ${fault === 'partition' ? 'partitioned' : `${fault}ed`}: its tasks are gone before its lease ends, then run again once`, async () => {
        const leaseSec = 3;
        const fleet = new Fleet({
          hosts: { h: ['n1', 'n2', 'n3', 'n4'] },
          sleepSec: 5,
          slots: 4,
          hostPlacement: false,
        });
        try {
          await fleet.open();
          const { daemon: scheduler } = await fleet.scheduler('s');
          const w1 = await fleet.worker('w1', 'h1', leaseSec);
          await waitFor(() => fleet.livePids().length >= 2, 15_000, 'w1 runs tasks');
          const w2 = await fleet.worker('w2', 'h2', leaseSec);
          await waitFor(() => fleet.livePids().length === 4, 15_000, 'four tasks run');
          const w1Nodes = fleet
            .placements()
            .filter(([, host]) => host === 'h1')
            .map(([node]) => node);
          assert.ok(w1Nodes.length > 0, 'w1 got tasks');
          const faulted = new Promise<void>((resolve) => setTimeout(resolve, (leaseSec + 2) * 1000));
          const lease = fleet.watchLease('w1', faulted);
          await sleep(300);
          if (fault === 'partition') fleet.networkOf(w1).partition();
          else w1.child!.kill(fault);
          await waitFor(() => fleet.livePids(w1Nodes).length === 0, (leaseSec + 1) * 1000, "w1's tasks die");
          const goneAt = performance.now();
          const leaseEnd = lease.lastChange() + leaseSec * 1000;
          assert.ok(
            goneAt < leaseEnd,
            `gone ${((leaseEnd - goneAt) / 1000).toFixed(2)} s before the lease end`,
          );
          // Declared lost after ttl + grace; its nodes run again, once, on w2.
          await scheduler.withOutput(
            waitFor(async () => (await fleet.done()).length === 4, 30_000, 'every node done'),
          );
          if (fault === 'partition') fleet.networkOf(w1).heal();
          if (fault === 'SIGSTOP') w1.child!.kill('SIGCONT');
          await sleep(1500);
          const runs = fleet.placements();
          for (const node of w1Nodes)
            assert.deepEqual(
              runs.filter(([n]) => n === node).map(([, host]) => host),
              ['h1', 'h2'],
              `${node} ran on w1, then once on w2`,
            );
          assert.deepEqual(fleet.violations(), []);
          const states = await query<{ name: string; state: string }>(
            fleet.url,
            "SELECT name, state FROM workers WHERE name = 'w1' ORDER BY started_at",
          );
          assert.equal(states[0]!.state, 'lost');
          assert.equal((await fleet.done()).length, 4, 'a late status changed nothing');
          assert.match(scheduler.output, /worker lost: its lease ran out/);
          void w2;
        } finally {
          assert.deepEqual(await fleet.cleanup(), [], 'no task process leaked');
        }
      });
    }

    it('a worker that registers after the leader started gets tasks at once, not at the next timed pass', async () => {
      // Passes a minute apart: only the worker's arrival can start these tasks in time.
      const fleet = new Fleet({
        hosts: { h1: ['a1', 'a2'] },
        sleepSec: 0.2,
        slots: 2,
        hostPlacement: false,
        passWaitSec: 60,
      });
      try {
        await fleet.open();
        const { daemon: scheduler } = await fleet.scheduler('s');
        await scheduler.withOutput(
          waitFor(() => /took the leader lease/.test(scheduler.output), 15_000, 'leads'),
        );
        // Its first pass finds no worker; the next timed one is a minute away.
        await sleep(1000);
        const worker = await fleet.worker('w1', 'h1', 4);
        const joined = performance.now();
        await worker.withOutput(
          waitFor(async () => (await fleet.done()).length === 2, 15_000, 'both nodes done'),
        );
        const seconds = (performance.now() - joined) / 1000;
        assert.ok(seconds < 15, `the worker's tasks ran ${seconds.toFixed(1)} s after it registered`);
        assert.equal(fleet.placements().length, 2, 'each node ran once');
      } finally {
        assert.deepEqual(await fleet.cleanup(), [], 'no task left behind');
      }
    });

    it('a forged completion notice finishes nothing: the leader takes only statuses that name their token', async () => {
      const fleet = new Fleet({ hosts: { h1: ['a1'] }, sleepSec: 3, slots: 1, hostPlacement: false });
      try {
        await fleet.open();
        const { daemon: scheduler } = await fleet.scheduler('s');
        await fleet.worker('w1', 'h1', 4);
        let running = '';
        await scheduler.withOutput(
          waitFor(
            async () => {
              const rows = await query<{ invocation_id: string }>(
                fleet.url,
                "SELECT invocation_id FROM running_tasks WHERE state = 'running'",
              );
              running = rows[0]?.invocation_id ?? '';
              return running !== '';
            },
            15_000,
            'the task runs',
          ),
        );
        const finishedLines = () =>
          scheduler.output
            .split('\n')
            .filter((line) => line.includes('"task finished"') && line.includes(running));
        // Anyone who can connect can notify: without the task's token, a status is not taken.
        for (const token of [null, 'forged-token-000000000', ''])
          await query(fleet.url, "SELECT pg_notify('bistro_completion', $1)", [
            JSON.stringify([[running, 'j', 'a1', token, DONE, Date.now() / 1000, 0, 0, null]]),
          ]);
        await sleep(1000);
        assert.deepEqual(finishedLines(), [], 'a forged notice finished the task in the leader');
        assert.equal(fleet.livePids(['a1']).length, 1, 'the task still runs');
        await scheduler.withOutput(
          waitFor(async () => (await fleet.done()).includes('a1'), 15_000, 'the task ends'),
        );
        await scheduler.withOutput(waitFor(() => finishedLines().length === 1, 5000, 'the leader hears'));
        assert.match(finishedLines()[0]!, /"status":"done"/);
      } finally {
        assert.deepEqual(await fleet.cleanup(), [], 'no task left behind');
      }
    });

    it('a worker role confined by row-level security runs its tasks and touches no other rows', async () => {
      const fleet = new Fleet({ hosts: { h: ['n1', 'n2'] }, sleepSec: 0.2, slots: 2, hostPlacement: false });
      try {
        await fleet.open();
        await fleet.scheduler('s');
        await waitFor(
          async () =>
            (await query(fleet.url, 'SELECT 1 FROM leader_lease WHERE holder IS NOT NULL')).length > 0,
          10_000,
          'the scheduler leads (the schema is in place)',
        );
        execFileSync('psql', [fleet.url, '-q', '-v', 'worker=w1', '-f', WORKER_ROLE_SQL], { stdio: 'pipe' });
        const asWorker = fleet.url.replace('postgres://postgres@', 'postgres://w1@');
        const worker = new DaemonProcess({ command: 'worker' });
        fleet.adopt(worker);
        worker.start([
          '--database',
          asWorker,
          '--worker-name',
          'w1',
          '--worker-lease-sec',
          '4',
          '--kill-bound-sec',
          '0.5',
        ]);
        await worker.withOutput(
          waitFor(async () => (await fleet.done()).length === 2, 20_000, 'both nodes done'),
        );
        // The role sees and changes only its own rows.
        const otherWorkers = await query(
          asWorker,
          "UPDATE workers SET state = 'lost' WHERE name <> 'w1' RETURNING 1",
        );
        assert.equal(otherWorkers.length, 0);
        assert.equal(
          (await query(asWorker, 'SELECT 1 FROM statuses')).length,
          0,
          'no status of a task it does not run',
        );
        await assert.rejects(
          query(
            asWorker,
            "INSERT INTO task_logs (kind, line_id, job, node, line, worker) VALUES ('stdout', 1, 'j', 'n1', 'x', 'w2')",
          ),
          /row-level security/,
        );
        await assert.rejects(query(asWorker, 'UPDATE leader_term SET term = term + 1'), /permission denied/);
      } finally {
        assert.deepEqual(await fleet.cleanup(), [], 'no task process leaked');
        await query(cluster!.url, 'DROP ROLE IF EXISTS w1').catch(() => undefined);
      }
    });

    it('a worker SIGTERMed stops its tasks, stores their statuses and deregisters', async () => {
      const fleet = new Fleet({ hosts: { h: ['n1', 'n2'] }, sleepSec: 30, slots: 2, hostPlacement: false });
      try {
        await fleet.open();
        await fleet.scheduler('s');
        const w1 = await fleet.worker('w1', 'h1', 4);
        await waitFor(() => fleet.livePids().length === 2, 15_000, 'two tasks run');
        const pids = fleet.livePids();
        assert.equal(await w1.stop('SIGTERM'), 0, w1.output.slice(-3000));
        assert.ok(pids.every((pid) => !isAlive(pid)));
        const rows = await query<{ state: string }>(fleet.url, "SELECT state FROM workers WHERE name = 'w1'");
        assert.deepEqual(
          rows.map((r) => r.state),
          ['stopped'],
        );
        assert.equal((await query(fleet.url, 'SELECT 1 FROM running_tasks')).length, 0, 'no row left');
        const statuses = await query<{ bits: number; data: string }>(
          fleet.url,
          'SELECT bits, data FROM statuses',
        );
        assert.equal(statuses.length, 2, 'both tasks have a status');
      } finally {
        assert.deepEqual(await fleet.cleanup(), [], 'no task process leaked');
      }
    });

    it('the leader failing over while workers run interrupts and doubles nothing', async () => {
      const fleet = new Fleet({
        hosts: { h: ['n1', 'n2', 'n3', 'n4'] },
        sleepSec: 4,
        slots: 2,
        hostPlacement: false,
      });
      try {
        await fleet.open();
        const a = await fleet.scheduler('a');
        await waitFor(
          async () => ((await call(a.port, 'leader')).data as { role: string }).role === 'leader',
        );
        const b = await fleet.scheduler('b');
        await fleet.worker('w1', 'h1', 4);
        await fleet.worker('w2', 'h2', 4);
        await waitFor(() => fleet.livePids().length === 4, 15_000, 'four tasks run');
        const running = fleet.livePids();
        a.daemon.child!.kill('SIGKILL');
        await a.daemon.exit;
        await b.daemon.withOutput(
          waitFor(async () => (await fleet.done()).length === 4, 30_000, 'every node done under b'),
        );
        assert.ok(running.every((pid) => !isAlive(pid)));
        assert.equal(fleet.placements().length, 4, 'each node ran once: nothing interrupted or doubled');
        assert.deepEqual(fleet.violations(), []);
        assert.equal(((await call(b.port, 'leader')).data as { role: string }).role, 'leader');
      } finally {
        assert.deepEqual(await fleet.cleanup(), [], 'no task process leaked');
      }
    });
  });
}
