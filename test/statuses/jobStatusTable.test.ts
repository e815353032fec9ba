import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobStatusTable } from '../../src/statuses/jobStatusTable.js';

const status = (time: number) => ({ bits: 1, time, backoffSec: 2, progressSec: 3 });

describe('job status table', () => {
  it('grows no further than the names that exist (plus an eighth), and keeps what it held', () => {
    const table = new JobStatusTable();
    table.set(3, status(3), 10);
    table.set(9_999, status(9_999), 10_000);
    assert.equal(table.bits.length, 11_250, 'not the next power of two (16384)');
    table.set(10_000, status(10_000), 10_001);
    assert.equal(table.bits.length, 11_250, 'a new name fits in the headroom: no copy');
    assert.deepEqual(table.get(3), status(3));
    assert.deepEqual(table.get(9_999), status(9_999));
    assert.deepEqual(table.get(10_000), status(10_000));
    assert.equal(table.size, 3);
  });

  it('without a name count, doubles as before', () => {
    const table = new JobStatusTable();
    table.set(100, status(1));
    assert.equal(table.bits.length, 128);
  });
});
