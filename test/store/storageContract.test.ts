/**
 * One contract, two stores: the same tests run against the embedded SQLite
 * files and a real PostgreSQL (a throw-away cluster for this file).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openSqliteStorage, type TaskStorage } from '../../src/store/storage.js';
import { PgStorage } from '../../src/store/postgres/pgStorage.js';
import {
  claimDispatched,
  claimDispatchedIds,
  completionNotices,
} from '../../src/store/postgres/remoteTasks.js';
import { StoreHealth } from '../../src/store/storeHealth.js';
import { TaskStatuses } from '../../src/statuses/taskStatuses.js';
import { StatusBits as B } from '../../src/statuses/taskStatus.js';
import { parseStatusReport } from '../../src/statuses/parseStatus.js';
import { compileLinearRegex } from '../../src/text/linearRegex.js';
import type { RunningTask } from '../../src/statuses/runningTask.js';
import { leadWithWorker, PostgresCluster, postgresUnavailable } from '../helpers/postgres.js';
import { runningTask as task } from '../helpers/runningTask.js';
import { waitFor } from '../helpers/processes.js';

interface Backend {
  readonly name: string;
  /** A fresh, empty place to store; `open` may be called again on it (a restart). */
  place(): Promise<{ open(): Promise<TaskStorage>; cleanup(): Promise<void> }>;
}

let cluster: PostgresCluster | undefined;
let databases = 0;

const sqlite: Backend = {
  name: 'SQLite',
  place: () => {
    const dir = mkdtempSync(join(tmpdir(), 'bistro-contract-'));
    return Promise.resolve({
      open: () => Promise.resolve(openSqliteStorage(dir, new StoreHealth())),
      cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    });
  },
};

async function postgresPlace(): Promise<{
  readonly url: string;
  open(): Promise<PgStorage>;
  cleanup(): Promise<void>;
}> {
  {
    const url = await cluster!.createDatabase(`contract_${++databases}`);
    const dir = mkdtempSync(join(tmpdir(), 'bistro-contract-'));
    let prepared = false;
    return {
      url,
      open: async () => {
        const storage = await PgStorage.open({
          url,
          dataDir: dir,
          health: new StoreHealth(),
          term: () => 1,
          incarnation: () => 'incarnation-1',
          queryTimeoutMs: 5000,
        });
        if (!prepared) {
          prepared = true;
          await leadWithWorker(storage.pool, 'incarnation-1');
        }
        return storage;
      },
      cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    };
  }
}

/**
 * A PostgreSQL store with two healthy workers (`inc-a` on its own channel
 * `bistro_dispatch_aaaa`, `inc-b` on `bistro_dispatch_bbbb`) and a client
 * LISTENing on `channels`; `heard()` returns what each channel was sent
 * since the last call.
 */
async function withListener(
  channels: readonly string[],
  test: (storage: PgStorage, heard: () => Promise<Record<string, string[]>>) => Promise<void>,
): Promise<void> {
  const place = await postgresPlace();
  const listener = new pg.Client({ connectionString: place.url });
  try {
    const storage = await place.open();
    await storage.pool.query(
      `INSERT INTO workers (incarnation, name, host, pid, version, state, kill_bound_ms, lease_ms, channel)
       VALUES ('inc-a', 'a', 'a', 1, 'test', 'healthy', 1000, 10000, 'bistro_dispatch_aaaa'),
              ('inc-b', 'b', 'b', 1, 'test', 'healthy', 1000, 10000, 'bistro_dispatch_bbbb')`,
    );
    const payloads = new Map(channels.map((channel) => [channel, [] as string[]]));
    await listener.connect();
    listener.on('notification', (message) => payloads.get(message.channel)?.push(message.payload ?? ''));
    for (const channel of channels) await listener.query(`LISTEN ${channel}`);
    const heard = async () => {
      // Notifications arrive in commit order: once `end` is heard, everything before it was.
      for (const channel of channels) await storage.pool.query('SELECT pg_notify($1, $2)', [channel, 'end']);
      await waitFor(() => [...payloads.values()].every((p) => p.at(-1) === 'end'), 5000, 'notifications');
      return Object.fromEntries([...payloads].map(([channel, p]) => [channel, p.splice(0).slice(0, -1)]));
    };
    await test(storage, heard);
    await storage.close();
  } finally {
    await listener.end();
    await place.cleanup();
  }
}

const postgres: Backend = { name: 'PostgreSQL', place: postgresPlace };

async function start(storage: TaskStorage, statuses: TaskStatuses, running: RunningTask): Promise<void> {
  statuses.recordStart(running);
  await storage.dispatch(running);
  storage.state.recordLaunch(running, []);
}

function finish(storage: TaskStorage, statuses: TaskStatuses, running: RunningTask, report: string): void {
  const outcome = statuses.recordFinish(
    running.job,
    running.node,
    running.invocationId,
    parseStatusReport(report),
    1001,
  );
  assert.ok(outcome.applied);
  storage.state.completeTask(running, outcome.status, false);
}

function storageTests(backend: Backend): void {
  describe(`storage contract: ${backend.name}`, () => {
    it('keeps final statuses, data and running tasks across a restart; completion removes the launch record', async () => {
      const place = await backend.place();
      try {
        const storage = await place.open();
        const statuses = new TaskStatuses();
        statuses.onChange((job, node, status) => storage.state.queueStatus(job, node, status));
        await start(storage, statuses, task('a', 'n1'));
        await start(storage, statuses, task('b', 'n2'));
        await start(storage, statuses, task('c', 'n3'));
        finish(storage, statuses, task('a', 'n1'), '{"result": "error_backoff", "data": {"why": "disk"}}');
        finish(storage, statuses, task('b', 'n2'), 'done');
        assert.ok(await storage.drain());
        assert.deepEqual(
          storage.launchRecords.runningTaskRecords().map((r) => r.task.invocationId),
          ['c'],
          'only the running task keeps its launch record',
        );
        await storage.close();

        const reopened = await place.open();
        const loaded = new TaskStatuses();
        await reopened.load(loaded);
        assert.equal(loaded.get('j', 'n1')!.bits & B.ERROR, B.ERROR);
        assert.deepEqual(loaded.get('j', 'n1')!.data, { why: 'disk' });
        assert.equal(loaded.get('j', 'n2')!.bits & B.DONE, B.DONE);
        if (reopened.kind === 'postgres') {
          assert.equal(loaded.runningTask('j', 'n3')?.invocationId, 'c', 'a shared store knows what runs');
        }
        assert.deepEqual(
          reopened.launchRecords.runningTaskRecords().map((r) => r.task.invocationId),
          ['c'],
        );
        await reopened.close();
      } finally {
        await place.cleanup();
      }
    });

    it('pages task logs both ways with a filter, and line ids stay unique and ordered across a restart', async () => {
      const place = await backend.place();
      try {
        const first = await place.open();
        const now = Date.now();
        for (let i = 0; i < 30; i++) first.logs.append('stdout', 'j', `n${i % 3}`, `line ${i}`, now);
        await first.drain();
        await first.close();
        const second = await place.open();
        for (let i = 30; i < 60; i++) second.logs.append('stdout', 'j', `n${i % 3}`, `line ${i}`, now - 5000);
        second.logs.append('stderr', 'j', 'n0', 'an error', now);
        const collect = async (sort: 'asc' | 'desc', nodes?: string[], pattern?: string) => {
          const seen: string[] = [];
          const ids: bigint[] = [];
          let lineId: bigint | undefined;
          for (let page = 0; page < 100; page++) {
            const result = await second.logs.query({
              table: 'stdout',
              sort,
              pageSize: 7,
              ...(nodes ? { nodes } : {}),
              ...(lineId === undefined ? {} : { lineId }),
              ...(pattern ? { filter: compileLinearRegex(pattern) } : {}),
            });
            for (const row of result.lines) {
              seen.push(row[3]);
              ids.push(BigInt(row[4]));
            }
            if (result.next_line_id === '-1') break;
            lineId = BigInt(result.next_line_id);
          }
          return { seen, ids };
        };
        const asc = await collect('asc');
        assert.equal(asc.seen.length, 60);
        assert.equal(new Set(asc.ids).size, 60, 'line ids are unique');
        assert.deepEqual(
          [...asc.ids].sort((a, b) => (a < b ? -1 : 1)),
          asc.ids,
          'ascending order',
        );
        assert.deepEqual(
          asc.seen.slice(0, 30),
          Array.from({ length: 30 }, (_, i) => `line ${i}`),
        );
        const desc = await collect('desc');
        assert.deepEqual(desc.seen, [...asc.seen].reverse());
        const filtered = await collect('asc', ['n1'], '^line [0-9]*5$');
        assert.deepEqual(filtered.seen, ['line 25', 'line 55']);
        const errors = await second.logs.query({ table: 'stderr', sort: 'asc' });
        assert.deepEqual(
          errors.lines.map((row) => row[3]),
          ['an error'],
        );
        assert.ok((await second.logs.prune(3600, now + 7200 * 1000)) >= 61, 'retention prunes old lines');
        assert.equal((await second.logs.query({ table: 'stdout', sort: 'asc' })).lines.length, 0);
        await second.close();
      } finally {
        await place.cleanup();
      }
    });
  });
}

storageTests(sqlite);

const skipReason = postgresUnavailable();
if (skipReason) {
  console.log(`# PostgreSQL storage tests skipped: ${skipReason}`);
} else {
  before(async () => {
    cluster = await PostgresCluster.start();
  });
  after(async () => {
    await cluster?.stop();
  });
  storageTests(postgres);

  describe('PostgreSQL store specifics', () => {
    it('gives line ids in commit order across two writers on one database', async () => {
      const place = await postgresPlace();
      try {
        const a = await place.open();
        const b = await place.open();
        const time = Date.now();
        for (let round = 0; round < 20; round++) {
          for (let i = 0; i < 50; i++) {
            a.logs.append('stdout', 'j', 'a', `a ${round} ${i}`, time);
            b.logs.append('stdout', 'j', 'b', `b ${round} ${i}`, time);
          }
          await Promise.all([a.drain(), b.drain()]);
        }
        const rows = await a.pool.query<{ line_id: string; xmin: string }>(
          'SELECT line_id::text, xmin::text FROM task_logs ORDER BY line_id',
        );
        assert.equal(rows.rows.length, 2000);
        assert.equal(new Set(rows.rows.map((r) => r.line_id)).size, 2000);
        // Ids issued under the clock row lock: a later transaction never has a smaller id.
        const byTransaction = new Map<string, bigint[]>();
        for (const row of rows.rows) {
          const list = byTransaction.get(row.xmin) ?? [];
          list.push(BigInt(row.line_id));
          byTransaction.set(row.xmin, list);
        }
        const ranges = [...byTransaction.values()].map((ids) => [ids[0]!, ids.at(-1)!] as const);
        for (let i = 1; i < ranges.length; i++)
          assert.ok(ranges[i]![0] > ranges[i - 1]![1], 'batches never interleave');
        await a.close();
        await b.close();
      } finally {
        await place.cleanup();
      }
    });

    it('refuses a database whose schema is newer than the program', async () => {
      const place = await postgresPlace();
      try {
        const storage = await place.open();
        await storage.pool.query('UPDATE bistro_schema SET version = 99');
        await storage.close();
        await assert.rejects(place.open(), /schema is version 99, newer than this program understands/);
      } finally {
        await place.cleanup();
      }
    });

    it('a dispatch or kill request wakes only the worker it is for', async () => {
      const channels = ['bistro_dispatch_aaaa', 'bistro_dispatch_bbbb', 'bistro_dispatch'];
      await withListener(channels, async (storage, heard) => {
        await storage.statuses.dispatch({ task: task('ta', 'n1'), incarnation: 'inc-a', spec: {} }, 1);
        // A worker row without a channel (an older worker) is woken on the shared one.
        await storage.statuses.dispatch(
          { task: task('t1', 'n2'), incarnation: 'incarnation-1', spec: {} },
          1,
        );
        await storage.statuses.requestKill('ta', { method: 'term' }, 1);
        assert.deepEqual(await heard(), {
          bistro_dispatch_aaaa: ['inc-a:ta', 'kill:inc-a'],
          bistro_dispatch_bbbb: [],
          bistro_dispatch: ['incarnation-1:t1'],
        });
      });
    });

    it("a completion statement's one notification carries the statuses it committed and their tokens; a large one only says look", async () => {
      await withListener(['bistro_completion'], async (storage, heard) => {
        for (const [id, node] of [
          ['ta', 'n1'],
          ['tb', 'n2'],
          ['tc', 'n3'],
        ] as const)
          await storage.statuses.dispatch({ task: task(id, node), incarnation: 'inc-a', spec: {} }, 1);
        const small = {
          bits: B.DONE,
          time: 1_700_000_000.123456,
          backoffSec: 0,
          progressSec: 0,
          data: { n: 'é"\\\\' },
        };
        const other = { bits: B.ERROR, time: 1_700_000_001.5, backoffSec: 3, progressSec: 7 };
        const large = { ...other, data: 'x'.repeat(9000) };
        // Queued together: one statement.
        storage.statuses.complete({ ...task('ta', 'n1'), completionToken: 'token-a' }, small);
        storage.statuses.complete(task('tb', 'n2'), other);
        assert.ok(await storage.statuses.drain());
        storage.statuses.complete(task('tc', 'n3'), large);
        assert.ok(await storage.statuses.drain());
        // A task whose row is gone (its worker was declared lost) notifies nothing.
        storage.statuses.complete(task('tz', 'n9'), small);
        assert.ok(await storage.statuses.drain());
        const payloads = (await heard())['bistro_completion']!;
        assert.equal(payloads.length, 2, payloads.join(' | '));
        assert.deepEqual(
          completionNotices(payloads[0]!)?.sort((x, y) => x.invocationId.localeCompare(y.invocationId)),
          [
            { invocationId: 'ta', job: 'j', node: 'n1', token: 'token-a', status: small },
            { invocationId: 'tb', job: 'j', node: 'n2', token: null, status: other },
          ],
        );
        assert.equal(payloads[1], '', 'statuses over the payload limit are not sent');
        for (const garbage of [
          '',
          '[[]]',
          '[["ta", "j", "n1", null, 1.5, 1, 0, 0, null]]',
          '[["ta", "j", "n1", null, 4, 1, 0, 0, "{not json"]]',
          '[["ta", "j", "n1", 4, 1, 0, 0, null]]',
          '[["ta", "j", 1, null, 4, 1, 0, 0, null]]',
          '[["ta", "j", "n1", 7, 4, 1, 0, 0, null]]',
          '{}',
        ])
          assert.equal(completionNotices(garbage), undefined, garbage);
      });
    });

    it('a dispatch notice names its rows, which the worker claims by key; a long list names only the incarnation', async () => {
      await withListener(['bistro_dispatch_aaaa'], async (storage, heard) => {
        // Queued together: one statement, one notice per incarnation.
        await Promise.all([
          storage.statuses.dispatch({ task: task('ta1', 'n1'), incarnation: 'inc-a', spec: {} }, 1),
          storage.statuses.dispatch({ task: task('ta2', 'n2'), incarnation: 'inc-a', spec: {} }, 1),
          storage.statuses.dispatch({ task: task('tb1', 'n3'), incarnation: 'inc-b', spec: {} }, 1),
        ]);
        // Long enough that the ids pass the notice's limit.
        const many = Array.from({ length: 400 }, (_, i) => `t-${'x'.repeat(16)}-${i}`);
        await Promise.all(
          many.map((id, i) =>
            storage.statuses.dispatch({ task: task(id, `m${i}`), incarnation: 'inc-a', spec: {} }, 1),
          ),
        );
        const payloads = (await heard())['bistro_dispatch_aaaa']!;
        assert.equal(payloads.length, 2, payloads.map((p) => p.slice(0, 40)).join(' | '));
        assert.match(payloads[0]!, /^inc-a:/);
        assert.deepEqual(payloads[0]!.slice('inc-a:'.length).split(',').sort(), ['ta1', 'ta2']);
        assert.equal(payloads[1], 'inc-a', 'a list over the limit leaves the worker to look');
        // By key, a worker claims only its own rows that still wait.
        const first = await claimDispatchedIds(storage.pool, 'inc-a', ['ta1', 'tb1', 'unknown']);
        assert.deepEqual(
          first.map((row) => row.task.invocationId),
          ['ta1'],
        );
        assert.deepEqual(await claimDispatchedIds(storage.pool, 'inc-a', ['ta1']), [], 'claimed once');
        const rest = await claimDispatched(storage.pool, 'inc-a', 1000);
        assert.equal(rest.length, 401, 'the look claims what the notice did not name');
      });
    });

    it('a claim changes its rows in place (HOT updates: no new index entries)', async () => {
      const place = await postgresPlace();
      // One connection, so that its statistics can be flushed on demand.
      const claimer = new pg.Pool({ connectionString: place.url, max: 1 });
      try {
        const storage = await place.open();
        await storage.pool.query(
          `INSERT INTO workers (incarnation, name, host, pid, version, state, kill_bound_ms, lease_ms)
           VALUES ('inc-a', 'a', 'a', 1, 'test', 'healthy', 1000, 10000)`,
        );
        for (const node of ['n1', 'n2', 'n3'])
          await storage.statuses.dispatch(
            { task: task(`t-${node}`, node), incarnation: 'inc-a', spec: {} },
            1,
          );
        const claimed = await claimDispatched(claimer, 'inc-a', 10);
        assert.deepEqual(claimed.map((row) => row.task.node).sort(), ['n1', 'n2', 'n3']);
        await claimer.query('SELECT pg_stat_force_next_flush()');
        let counts = { upd: 0, hot: 0 };
        await waitFor(
          async () => {
            const result = await storage.pool.query<{ upd: string; hot: string }>(
              `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'running_tasks'`,
            );
            counts = { upd: Number(result.rows[0]!.upd), hot: Number(result.rows[0]!.hot) };
            return counts.upd >= 3;
          },
          15_000,
          'the claim in the statistics',
        );
        assert.deepEqual(counts, { upd: 3, hot: 3 });
        await storage.close();
      } finally {
        await claimer.end();
        await place.cleanup();
      }
    });

    it('a dispatch with a stale term is fenced out and writes no row', async () => {
      const place = await postgresPlace();
      try {
        const storage = await place.open();
        await storage.pool.query('UPDATE leader_term SET term = 2');
        await assert.rejects(storage.dispatch(task('x', 'n1')), /term 1 is over/);
        const rows = await storage.pool.query('SELECT * FROM running_tasks');
        assert.equal(rows.rowCount, 0);
        await storage.close();
      } finally {
        await place.cleanup();
      }
    });

    it('a completion whose row is gone changes no status and is reported late', async () => {
      const place = await postgresPlace();
      try {
        const storage = await place.open();
        const statuses = new TaskStatuses();
        await start(storage, statuses, task('y', 'n1'));
        await storage.drain();
        await storage.pool.query("DELETE FROM running_tasks WHERE invocation_id = 'y'");
        const late: string[] = [];
        storage.statuses.events = { onLateStatus: (c) => late.push(c.task.invocationId) };
        finish(storage, statuses, task('y', 'n1'), 'done');
        await storage.drain();
        const status = await storage.pool.query("SELECT * FROM statuses WHERE node = 'n1'");
        assert.equal(status.rowCount, 0, 'no status written for a lost invocation');
        assert.deepEqual(late, ['y']);
        assert.deepEqual(storage.launchRecords.runningTaskRecords(), [], 'its launch record goes');
        await storage.close();
      } finally {
        await place.cleanup();
      }
    });
  });
}
