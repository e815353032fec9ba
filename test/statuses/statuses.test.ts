import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextBackoff } from '../../src/statuses/backoff.js';
import { parseStatusReport } from '../../src/statuses/parseStatus.js';
import { bitsFromCode, statusCode, statusJson, StatusBits as B } from '../../src/statuses/taskStatus.js';
import { TaskStatuses } from '../../src/statuses/taskStatuses.js';

describe('task status reports', () => {
  it('parses every label', () => {
    assert.deepEqual(parseStatusReport('done'), { bits: B.DONE });
    assert.deepEqual(parseStatusReport('incomplete'), { bits: B.INCOMPLETE });
    assert.deepEqual(parseStatusReport('incomplete_backoff'), {
      bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
    });
    assert.deepEqual(parseStatusReport('error_backoff'), { bits: B.ERROR | B.USES_BACKOFF });
    assert.deepEqual(parseStatusReport('backoff'), { bits: B.ERROR | B.USES_BACKOFF });
    assert.deepEqual(parseStatusReport('failed'), { bits: B.FAILED });
  });

  it('parses JSON with result or result_bits (which wins) and data', () => {
    assert.deepEqual(parseStatusReport('{"result": "done", "data": {"rows": 5}}'), {
      bits: B.DONE,
      data: { rows: 5 },
    });
    assert.deepEqual(parseStatusReport('{"result": "failed", "result_bits": 4}'), { bits: B.DONE });
    assert.deepEqual(parseStatusReport('{"result_bits": 96, "time": 5}'), { bits: B.ERROR | B.USES_BACKOFF });
    assert.deepEqual(parseStatusReport('{"result": "done", "data": {"__bistro_saved_backoff": 3}}'), {
      bits: B.DONE,
    });
    assert.deepEqual(parseStatusReport('{"result": "done", "data": {}}'), { bits: B.DONE });
  });

  it('turns garbage into error_backoff, keeping the raw text', () => {
    for (const [raw, reason] of [
      ['Done', /not a status label and not JSON/],
      [' done', /not a status label/],
      ['running', /not a status label/],
      ['[1]', /must be an object/],
      ['{"data": 1}', /needs "result" or "result_bits"/],
      ['{"result": "finished"}', /unknown result "finished"/],
      ['{"result_bits": 2}', /may not contain .*RUNNING/],
      ['{"result_bits": 12}', /exactly one of DONE/],
      ['{"result_bits": 68}', /USES_BACKOFF needs ERROR or DOES_NOT_ADVANCE_BACKOFF/],
      ['{"result_bits": 65536}', /known bits/],
    ] as const) {
      const report = parseStatusReport(raw);
      assert.equal(report.bits, B.ERROR | B.USES_BACKOFF, raw);
      const data = report.data as { exception: string; raw_status: string };
      assert.match(data.exception, reason, raw);
      assert.equal(data.raw_status, raw);
      assert.ok(data.exception.startsWith(`Cannot parse status: ${raw}`));
    }
  });
});

describe('backoff', () => {
  it('steps through the list, repeats or runs out', () => {
    const list = { values: [5, 15, 60], repeat: false };
    assert.deepEqual(nextBackoff(list, 0), { seconds: 5, noMoreBackoffs: false });
    assert.deepEqual(nextBackoff(list, 5), { seconds: 15, noMoreBackoffs: false });
    assert.deepEqual(nextBackoff(list, 60), { seconds: 60, noMoreBackoffs: true });
    assert.deepEqual(
      nextBackoff(list, 10),
      { seconds: 15, noMoreBackoffs: false },
      'a changed list continues from the stored duration',
    );
    assert.deepEqual(nextBackoff({ values: [5, 15], repeat: true }, 15), {
      seconds: 15,
      noMoreBackoffs: false,
    });
    assert.deepEqual(nextBackoff({ values: [], repeat: false }, 0), { seconds: 60, noMoreBackoffs: true });
  });
});

describe('TaskStatuses', () => {
  const task = (invocationId: string) => ({
    job: 'j',
    node: 'n',
    invocationId,
    startTime: 100,
    charges: {},
    backoff: { next: { seconds: 5, noMoreBackoffs: false }, previousProgressSec: 0 },
    workerShard: 'local',
  });

  it('ignores a report for another invocation or a task that is not running', () => {
    const statuses = new TaskStatuses();
    const seen: string[] = [];
    statuses.onChange((job, node, status) => seen.push(`${job}/${node}/${status.bits}`));
    statuses.recordStart(task('a'));
    assert.throws(() => statuses.recordStart(task('b')), /already running as a/);
    assert.equal(statuses.recordFinish('j', 'n', 'b', { bits: B.DONE }, 101).applied, false);
    assert.equal(statuses.recordFinish('j', 'n', 'a', { bits: B.ERROR | B.USES_BACKOFF }, 101).applied, true);
    const again = statuses.recordFinish('j', 'n', 'a', { bits: B.ERROR | B.USES_BACKOFF }, 102);
    assert.equal(again.applied, false, 'a repeated report cannot consume another retry');
    assert.deepEqual(seen, ['j/n/2', 'j/n/96']);
    assert.deepEqual(statuses.get('j', 'n'), { bits: 96, time: 101, backoffSec: 5, progressSec: 5 });
  });

  it('running only (a worker): reports every change, keeps no status and no name', () => {
    const statuses = TaskStatuses.runningOnly();
    const seen: string[] = [];
    statuses.onChange((job, node, status) => seen.push(`${job}/${node}/${status.bits}`));
    statuses.recordStart(task('a'));
    assert.throws(() => statuses.recordStart(task('b')), /already running as a/);
    assert.equal(statuses.runningTask('j', 'n')?.invocationId, 'a');
    assert.equal(statuses.recordFinish('j', 'n', 'a', { bits: B.DONE }, 101).applied, true);
    assert.equal(statuses.recordFinish('j', 'n', 'a', { bits: B.DONE }, 102).applied, false, 'once');
    assert.deepEqual(seen, ['j/n/2', 'j/n/4']);
    statuses.load('j', 'm', { bits: B.DONE, time: 1, backoffSec: 0, progressSec: 0 });
    assert.equal(statuses.get('j', 'n'), undefined);
    assert.equal(statuses.get('j', 'm'), undefined);
    assert.equal(statuses.runningCount, 0);
    assert.equal(statuses.names.size, 0, 'no node name is kept');
    assert.deepEqual([...statuses.jobs()], []);
  });

  it('gives the status JSON form for prev_status', () => {
    assert.deepEqual(statusJson({ bits: 96, time: 7, backoffSec: 5, progressSec: 5, data: { a: 1 } }), {
      result_bits: 96,
      data: { a: 1 },
      time: 7,
      backoff_duration: 5,
    });
    assert.deepEqual(statusJson({ bits: 4, time: 7, backoffSec: 0, progressSec: 0 }), {
      result_bits: 4,
      time: 7,
    });
  });
});

describe('histogram codes', () => {
  it('uses the original alphabet: bits mod 64, then bits div 64', () => {
    assert.equal(statusCode(1), 'B');
    assert.equal(statusCode(4), 'E');
    assert.equal(statusCode(63), '_');
    assert.equal(statusCode(96), 'gB');
    assert.equal(statusCode(256 | 4), 'EE');
    for (const bits of [1, 2, 4, 8, 16, 96, 128, 260, 4095])
      assert.equal(bitsFromCode(statusCode(bits)), bits);
  });
});
