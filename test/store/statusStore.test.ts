import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { StatusStore } from '../../src/store/statusStore.js';
import { parseStatusReport } from '../../src/statuses/parseStatus.js';
import { TaskStatuses } from '../../src/statuses/taskStatuses.js';
import { StatusBits as B } from '../../src/statuses/taskStatus.js';
import { runningTask as task } from '../helpers/runningTask.js';

describe('StatusStore', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bistro-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips every status, data, backoff state and forgiveness across a restart', () => {
    const file = join(dir, 'statuses.sqlite');
    const store = new StatusStore(file);
    const before = new TaskStatuses();
    before.onChange((job, node, status) => store.queueStatus(job, node, status));
    before.recordStart(task('a', 'n1'));
    before.recordFinish(
      'j',
      'n1',
      'a',
      parseStatusReport('{"result": "error_backoff", "data": {"why": "disk"}}'),
      1001,
    );
    before.recordStart(task('b', 'n2'));
    before.recordFinish('j', 'n2', 'b', parseStatusReport('done'), 1002);
    before.recordStart({
      ...task('c', 'n3'),
      backoff: { next: { seconds: 60, noMoreBackoffs: true }, previousProgressSec: 0 },
    });
    before.recordFinish('j', 'n3', 'c', parseStatusReport('error_backoff'), 1003);
    assert.equal(before.get('j', 'n3')!.bits, B.FAILED);
    before.forgive('j');
    assert.equal(store.flush(), 3, 'updates to the same task coalesce');
    store.close();

    // A new process: a fresh in-memory store loaded from the file.
    const reopened = new StatusStore(file);
    const after = new TaskStatuses();
    assert.equal(reopened.loadStatuses(after), 3);
    for (const node of ['n1', 'n2', 'n3'])
      assert.deepEqual(after.get('j', node), before.get('j', node), node);
    assert.equal(after.get('j', 'n3')!.bits, B.ERROR, 'forgiveness survived the restart');
    assert.deepEqual(after.get('j', 'n1')!.data, { why: 'disk' });
    reopened.close();
  });

  it('keeps running-task records until removed, with the process identity', () => {
    const file = join(dir, 'statuses.sqlite');
    const store = new StatusStore(file);
    store.recordLaunch(task('a'), ['/sys/fs/cgroup/unified/bistro.slice/a']);
    store.recordLaunch(task('b', 'n2'));
    store.recordProcess('a', { pid: 1234, pidStartTime: 99999, pgid: 1234 });
    store.close();
    const reopened = new StatusStore(file);
    const records = reopened.runningTaskRecords();
    assert.deepEqual(
      records.map((r) => [r.task.invocationId, r.process, r.cgroupPaths]),
      [
        ['a', { pid: 1234, pidStartTime: 99999, pgid: 1234 }, ['/sys/fs/cgroup/unified/bistro.slice/a']],
        ['b', undefined, []],
      ],
    );
    assert.deepEqual(records[0]!.task, task('a'));
    reopened.removeLaunch('a');
    assert.deepEqual(
      reopened.runningTaskRecords().map((r) => r.task.invocationId),
      ['b'],
    );
    reopened.close();
  });

  it('writes a process identity within one turn of the event loop, or with an earlier write', async () => {
    const file = join(dir, 'statuses.sqlite');
    const store = new StatusStore(file);
    const reader = new StatusStore(file);
    const pids = () => reader.runningTaskRecords().map((r) => [r.task.invocationId, r.process?.pid]);
    store.recordLaunch(task('a'));
    store.recordLaunch(task('b', 'n2'));
    store.recordLaunch(task('c', 'n3'));
    store.recordProcess('a', { pid: 11, pidStartTime: 1, pgid: 11 });
    assert.deepEqual(
      pids(),
      [
        ['a', undefined],
        ['b', undefined],
        ['c', undefined],
      ],
      'not yet: one turn away',
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(pids(), [
      ['a', 11],
      ['b', undefined],
      ['c', undefined],
    ]);
    store.recordProcess('b', { pid: 12, pidStartTime: 2, pgid: undefined });
    store.recordProcess('c', { pid: 13, pidStartTime: 3, pgid: undefined });
    store.removeLaunch('c');
    assert.deepEqual(
      pids(),
      [
        ['a', 11],
        ['b', 12],
      ],
      'with the next write, which removed c',
    );
    store.close();
    reader.close();
  });

  it('uses WAL and a versioned schema; refuses a newer schema', () => {
    const file = join(dir, 'statuses.sqlite');
    new StatusStore(file).close();
    const db = new Database(file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    db.pragma('user_version = 7');
    db.close();
    assert.throws(() => new StatusStore(file), /schema version 7 is newer than this program understands/);
  });

  it('names the file when it cannot be opened', () => {
    const file = join(dir, 'not-a-db.sqlite');
    writeFileSync(file, 'this is not sqlite '.repeat(100));
    assert.throws(
      () => new StatusStore(file),
      (error: Error) => error.message.includes(file),
    );
  });
});
