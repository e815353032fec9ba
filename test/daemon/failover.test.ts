/**
 * Schedulers sharing one PostgreSQL (a throw-away cluster for this file):
 * one leads, a standby takes over when the leader is SIGKILLed or paused,
 * a paused leader steps down when it resumes, and a database restart loses
 * nothing. Every task holds an flock on a per-node file while it runs, so
 * two live copies of one (job, node) leave a violation behind.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort } from '../helpers/http.js';
import { isAlive, sleep, waitFor } from '../helpers/processes.js';
import { clusterArgs, PostgresCluster, postgresUnavailable } from '../helpers/postgres.js';
import { runBistro } from '../helpers/cli.js';
import { role, waitRole, type SchedulerUnderTest } from '../helpers/leader.js';

const FLOCK_TASK = fileURLToPath(new URL('../fixtures/tasks/flock_task.sh', import.meta.url));
const NODES = ['n1', 'n2', 'n3', 'n4'];

let cluster: PostgresCluster | undefined;
let databases = 0;

type Scheduler = SchedulerUnderTest;

/** Job `jobName` (default `j`) of the flock task on every node; orphans are killed at once. */
function writeConfig(
  daemon: DaemonProcess,
  lockDir: string,
  pidDir: string,
  sleepSec: number,
  jobName = 'j',
): void {
  daemon.writeConfig(
    {
      nodes: {
        levels: ['db'],
        node_sources: [{ source: 'manual', prefs: Object.fromEntries(NODES.map((n) => [n, []])) }],
      },
      resources: {},
      kill_orphan_tasks_after_sec: 0,
    },
    {
      [jobName]: {
        command: [FLOCK_TASK, lockDir, pidDir, String(sleepSec)],
        backoff: [1, 'repeat'],
        config: {},
      },
    },
  );
}

async function startScheduler(
  url: string,
  name: string,
  shared: { lockDir: string; pidDir: string; sleepSec: number },
  leases: { leader: number; worker: number },
  jobName?: string,
): Promise<Scheduler> {
  const daemon = new DaemonProcess();
  writeConfig(daemon, shared.lockDir, shared.pidDir, shared.sleepSec, jobName);
  const port = await freePort();
  daemon.start([...clusterArgs(url, name, leases), '--http-port', String(port)]);
  await daemon.withOutput(waitFor(() => /REST API listening/.test(daemon.output), 15_000, `${name} API`));
  return { daemon, port };
}

function watchdogPid(daemon: DaemonProcess): number | undefined {
  const match = /"pid":(\d+)[^\n]*worker watchdog started/.exec(daemon.output);
  return match ? Number(match[1]) : undefined;
}

async function statuses(url: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rows = await client.query<{ node: string; bits: number }>('SELECT node, bits FROM statuses');
    return new Map(rows.rows.map((row) => [row.node, row.bits]));
  } finally {
    await client.end();
  }
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const DONE = 4;

/** Where the tasks of every scheduler in a test record their locks, violations and pids. */
class SharedTaskDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'bistro-failover-'));
  readonly lockDir = join(this.dir, 'locks');
  readonly pidDir = join(this.dir, 'pids');

  violations(): string[] {
    return existsSync(this.lockDir) ? readdirSync(this.lockDir).filter((n) => n.startsWith('VIOLATION')) : [];
  }

  livePids(): number[] {
    if (!existsSync(this.pidDir)) return [];
    return readdirSync(this.pidDir)
      .map((name) => Number(/-(\d+)$/.exec(name)?.[1]))
      .filter((pid) => pid > 0 && isAlive(pid));
  }

  /** Kills what is left (a failing test's leftovers) by pid; returns those pids. */
  cleanup(): number[] {
    const left = this.livePids();
    for (const pid of left) process.kill(pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    return left;
  }
}

/** The schedulers of one test on one database, their shared task dir, and their cleanup. */
class FailoverScene {
  readonly tasks = new SharedTaskDir();
  private readonly started: Scheduler[] = [];

  constructor(
    readonly url: string,
    private readonly sleepSec: number,
    private readonly leases: { leader: number; worker: number },
  ) {}

  async start(name: string, jobName?: string): Promise<Scheduler> {
    const shared = { lockDir: this.tasks.lockDir, pidDir: this.tasks.pidDir, sleepSec: this.sleepSec };
    const scheduler = await startScheduler(this.url, name, shared, this.leases, jobName);
    this.started.push(scheduler);
    return scheduler;
  }

  /** `a` leading, `b` (running `standbyJob`, default the same job) standing by, a's tasks running. */
  async leaderAndStandby(standbyJob?: string): Promise<[Scheduler, Scheduler]> {
    const a = await this.start('a');
    await waitRole(a, 'leader', 'a leads');
    const b = await this.start('b', standbyJob);
    await waitRole(b, 'standby', 'b stands by');
    await a.daemon.withOutput(
      waitFor(() => this.tasks.livePids().length >= NODES.length * 2, 10_000, 'tasks run'),
    );
    return [a, b];
  }

  /** Resumes and stops every scheduler (standbys first), then kills what tasks left; returns their pids. */
  async cleanup(): Promise<number[]> {
    for (const scheduler of [...this.started].reverse()) {
      scheduler.daemon.child?.kill('SIGCONT');
      await scheduler.daemon.cleanup();
    }
    return this.tasks.cleanup();
  }
}

const skipReason = postgresUnavailable();
if (skipReason) {
  console.log(`# failover tests skipped: ${skipReason}`);
} else {
  describe('schedulers on one PostgreSQL', () => {
    before(async () => {
      cluster = await PostgresCluster.start();
    });
    after(async () => {
      await cluster?.stop();
    });

    it('a standby takes over a SIGKILLed leader within the lease, and no node ever runs twice at once', async () => {
      const url = await cluster!.createDatabase(`failover_${++databases}`);
      const leases = { leader: 2, worker: 3 };
      const scene = new FailoverScene(url, 4, leases);
      const { tasks } = scene;
      try {
        const [a, b] = await scene.leaderAndStandby();
        assert.equal((await role(b.port))?.leader, 'a');
        const standbyKill = await call(b.port, 'kill_task', { job_id: 'j', node_id: 'n1' });
        assert.match(standbyKill.error ?? '', /standby; the leader is a at http:\/\/127\.0\.0\.1:\d+/);
        const aTasks = tasks.livePids();
        const aWatchdog = watchdogPid(a.daemon);
        assert.ok(aWatchdog !== undefined && isAlive(aWatchdog), 'a runs a watchdog');

        const killedAt = performance.now();
        a.daemon.child!.kill('SIGKILL');
        await a.daemon.exit;
        // The watchdog sees its worker gone and kills every task of it at once.
        await waitFor(() => aTasks.every((pid) => !isAlive(pid)), 3000, "a's tasks die with it");
        await waitRole(b, 'leader', 'b leads');
        const failoverSec = (performance.now() - killedAt) / 1000;
        assert.ok(failoverSec <= leases.leader + 1.5, `took over in ${failoverSec.toFixed(2)} s`);

        // b declares a's worker lost (worker lease + grace) and runs its nodes again, once each.
        await b.daemon.withOutput(
          waitFor(
            async () =>
              [...(await statuses(url)).values()].filter((bits) => bits & DONE).length === NODES.length,
            30_000,
            'every node done',
          ),
        );
        const lost = await query<{ name: string; state: string }>(
          url,
          'SELECT name, state FROM workers ORDER BY name',
        );
        assert.deepEqual(lost.find((w) => w.name === 'a')?.state, 'lost');
        assert.match(b.daemon.output, /worker lost: its lease ran out/);
        assert.deepEqual(tasks.violations(), []);
        assert.ok(!isAlive(aWatchdog!), "a's watchdog fired and exited");
      } finally {
        assert.deepEqual(await scene.cleanup(), [], 'no task process leaked');
      }
    });

    it('a leader paused past its lease steps down when it resumes; its tasks go on and report', async () => {
      const url = await cluster!.createDatabase(`failover_${++databases}`);
      // A worker lease long enough that the pause does not cost the tasks; the leader lease short.
      const scene = new FailoverScene(url, 5, { leader: 2, worker: 10 });
      const { tasks } = scene;
      try {
        const [a, b] = await scene.leaderAndStandby();
        const aTasks = tasks.livePids();
        a.daemon.child!.kill('SIGSTOP');
        await waitRole(b, 'leader', 'b leads');
        await sleep(300);
        a.daemon.child!.kill('SIGCONT');
        await a.daemon.withOutput(
          waitFor(() => /standing by: no longer the leader/.test(a!.daemon.output), 5000, 'a steps down'),
        );
        assert.equal((await role(a.port))?.role, 'standby');
        assert.equal((await role(a.port))?.leader, 'b', 'a standby names the leader');
        const cli = runBistro(['leader', '--url', `http://127.0.0.1:${a.port}`]);
        assert.match(cli.stdout, /^standby, term \d+; the leader is b \(http:\/\/127\.0\.0\.1:\d+\)/);
        const refused = await call(a.port, 'forgive_jobs', { jobs: ['j'] });
        assert.match(refused.error ?? '', /standby; the leader is b/);
        assert.ok(aTasks.every(isAlive), "losing leadership does not touch a's tasks");
        // a's tasks report normally; b saw them as running and starts none of them again.
        await waitFor(
          async () =>
            [...(await statuses(url)).values()].filter((bits) => bits & DONE).length === NODES.length,
          20_000,
          'every node done',
        );
        const starts = (b.daemon.output.match(/"msg":"task started"/g) ?? []).length;
        assert.equal(starts, 0, 'the new leader started no second copy');
        assert.deepEqual(tasks.violations(), []);
      } finally {
        assert.deepEqual(await scene.cleanup(), [], 'no task process leaked');
      }
    });

    it('a PostgreSQL restart mid-run loses nothing: every invocation gets exactly one final status', async () => {
      const url = await cluster!.createDatabase(`failover_${++databases}`);
      const scene = new FailoverScene(url, 1.5, { leader: 5, worker: 20 });
      const { tasks } = scene;
      try {
        const a = await scene.start('a');
        await waitRole(a, 'leader', 'a leads');
        await waitFor(() => tasks.livePids().length >= NODES.length, 10_000, 'tasks run');
        // Down while the tasks finish: their statuses and output wait in the scheduler.
        cluster!.stopServer('immediate');
        await sleep(2500);
        await cluster!.startServer();
        await a.daemon.withOutput(
          waitFor(
            async () => {
              try {
                return (
                  [...(await statuses(url)).values()].filter((bits) => bits & DONE).length === NODES.length
                );
              } catch {
                return false;
              }
            },
            30_000,
            'every node done',
          ),
        );
        const finals = new Map<string, number>();
        const countFinals = async () => {
          finals.clear();
          const events = await query<{ line: string }>(
            url,
            "SELECT line FROM task_logs WHERE kind = 'statuses'",
          );
          for (const { line } of events) {
            const event = JSON.parse(line) as { event?: string; invocation_id?: string };
            if (event.event === 'got_status')
              finals.set(event.invocation_id!, (finals.get(event.invocation_id!) ?? 0) + 1);
          }
          return finals.size >= NODES.length;
        };
        // Task events are written a little after the statuses (and retried while the database was away).
        await a.daemon.withOutput(waitFor(countFinals, 10_000, 'the final events'));
        assert.ok(finals.size >= NODES.length, `final statuses of ${finals.size} invocations`);
        assert.ok(
          [...finals.values()].every((count) => count === 1),
          'one final status per invocation',
        );
        assert.doesNotMatch(a.daemon.output, /late status dropped|worker lease lost/);
        assert.match(a.daemon.output, /statuses cannot be written/, 'the outage was seen and reported');
        assert.deepEqual(tasks.violations(), []);
      } finally {
        assert.deepEqual(await scene.cleanup(), [], 'no task process leaked');
      }
    });

    it('a database out of reach past the worker lease margin: the tasks are SIGKILLed before the lease ends', async () => {
      const url = await cluster!.createDatabase(`failover_${++databases}`);
      const leases = { leader: 2, worker: 3 };
      const scene = new FailoverScene(url, 30, leases);
      const { tasks } = scene;
      try {
        const a = await scene.start('a');
        await waitRole(a, 'leader', 'a leads');
        await waitFor(() => tasks.livePids().length >= NODES.length * 2, 10_000, 'tasks run');
        const running = tasks.livePids();
        const stoppedAt = performance.now();
        cluster!.stopServer('immediate');
        await a.daemon.withOutput(
          waitFor(
            () => running.every((pid) => !isAlive(pid)),
            leases.worker * 1000,
            'tasks killed within the lease',
          ),
        );
        const killedAfterSec = (performance.now() - stoppedAt) / 1000;
        assert.ok(
          killedAfterSec < leases.worker,
          `killed ${killedAfterSec.toFixed(2)} s after the outage began`,
        );
        assert.match(a.daemon.output, /worker lease lost: killing every task/);
        await cluster!.startServer();
        // Back: a new incarnation registers, and the old one is declared lost by whoever leads.
        await a.daemon.withOutput(
          waitFor(
            async () => {
              try {
                const workers = await query<{ state: string }>(url, 'SELECT state FROM workers');
                return workers.length === 2 && workers.some((w) => w.state === 'lost');
              } catch {
                return false;
              }
            },
            20_000,
            'a new incarnation, the old one lost',
          ),
        );
        assert.deepEqual(tasks.violations(), []);
      } finally {
        assert.deepEqual(await scene.cleanup(), [], 'no task process leaked');
      }
    });

    it('a new leader with another config does not kill the tasks of the previous one as orphans', async () => {
      const url = await cluster!.createDatabase(`failover_${++databases}`);
      const scene = new FailoverScene(url, 4, { leader: 2, worker: 10 });
      const { tasks } = scene;
      try {
        // b's config has no job j: to it, a's tasks would be orphans.
        const [a, b] = await scene.leaderAndStandby('other');
        const aTasks = tasks.livePids();
        a.daemon.child!.kill('SIGSTOP');
        await waitRole(b, 'leader', 'b leads');
        a.daemon.child!.kill('SIGCONT');
        await b.daemon.withOutput(
          waitFor(() => /not killed as orphans under this one/.test(b.daemon.output), 5000, 'b spares them'),
        );
        await a.daemon.withOutput(
          waitFor(
            async () => {
              const done = await query<{ node: string }>(
                url,
                "SELECT node FROM statuses WHERE job = 'j' AND bits & 4 = 4",
              );
              return done.length === NODES.length;
            },
            20_000,
            "a's tasks finish normally",
          ),
        );
        assert.ok(aTasks.length >= NODES.length);
        assert.doesNotMatch(b.daemon.output, /killing task/);
      } finally {
        assert.deepEqual(await scene.cleanup(), [], 'no task process leaked');
      }
    });

    it('bistro db migrate applies the schema once; a bad runner or a remote one without a database is refused', async () => {
      const url = await cluster!.createDatabase(`failover_${++databases}`);
      const first = runBistro(['db', 'migrate', '--database', url]);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /schema migrated from version 0 to \d+/);
      const again = runBistro(['db', 'migrate', '--database', url]);
      assert.match(again.stdout, /schema is up to date/);
      const scheduler = ['scheduler', '--config', 'x', '--data-dir', 'y'];
      const bad = runBistro([...scheduler, '--database', url, '--runner', 'elsewhere']);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /--runner: expected "local" or "remote", got "elsewhere"/);
      const noDatabase = runBistro([...scheduler, '--runner', 'remote']);
      assert.equal(noDatabase.status, 2);
      assert.match(noDatabase.stderr, /--runner remote needs --database/);
    });
  });
}
