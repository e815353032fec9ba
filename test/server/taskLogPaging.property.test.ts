import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { queryTaskLogs } from '../../src/store/taskLogQueries.js';
import { TaskLogStore } from '../../src/store/taskLogStore.js';

describe('task log paging', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'bistro-logs-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('concatenated pages equal the filtered full set, without duplicates, for any page size and regex', () => {
    let run = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            job: fc.constantFrom('a', 'b'),
            node: fc.constantFrom('n1', 'n2', 'n3'),
            line: fc.stringMatching(/^[a-e]{0,6}$/),
            second: fc.integer({ min: 0, max: 5 }),
          }),
          { maxLength: 120 },
        ),
        fc.integer({ min: 1, max: 17 }),
        fc.constantFrom(undefined, 'a', '^b', 'c+d', 'e$', 'zz'),
        fc.constantFrom('asc', 'desc') as fc.Arbitrary<'asc' | 'desc'>,
        fc.constantFrom<string[] | undefined>(undefined, ['a'], ['b']),
        (rows, pageSize, regexSource, sort, jobs) => {
          const store = new TaskLogStore(join(dir, `logs${run++}.sqlite`));
          try {
            for (const row of rows)
              store.append('stdout', row.job, row.node, row.line, 1_700_000_000_000 + row.second * 1000);
            store.flush();
            const regex = regexSource === undefined ? undefined : new RegExp(regexSource);
            const expected = rows
              .map((row, i) => ({ ...row, i }))
              .filter((row) => (!jobs || jobs.includes(row.job)) && (!regex || regex.test(row.line)))
              .map((row) => `${row.i}`);
            if (sort === 'desc') expected.reverse();
            const seen: string[] = [];
            let lineId: bigint | undefined;
            for (let guard = 0; guard < 1000; guard++) {
              const page = queryTaskLogs(store.db, {
                table: 'stdout',
                sort,
                filter: regex,
                jobs,
                lineId,
                pageSize,
              });
              assert.ok(page.lines.length <= pageSize);
              for (const line of page.lines) seen.push(line[4]);
              if (page.next_line_id === '-1') break;
              assert.equal(page.lines.length, pageSize, 'a page with a next cursor is full');
              lineId = BigInt(page.next_line_id);
            }
            // Ids are issued in append order, so the i-th appended row has the i-th smallest id.
            const ids = [
              ...store.db.prepare('SELECT time_and_count AS id FROM stdout ORDER BY time_and_count').all(),
            ].map((r) => String((r as { id: bigint }).id));
            assert.deepEqual(
              seen,
              expected.map((i) => ids[Number(i)]),
            );
            assert.equal(new Set(seen).size, seen.length, 'no duplicates');
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('line ids stay unique and increasing across a restart in the same second', () => {
    const file = join(dir, 'restart.sqlite');
    const first = new TaskLogStore(file);
    const a = first.append('stdout', 'j', 'n', 'x', 1_700_000_000_500);
    first.close();
    const second = new TaskLogStore(file);
    const b = second.append('stdout', 'j', 'n', 'y', 1_700_000_000_600);
    second.close();
    assert.ok(b > a);
    assert.equal(b >> 32n, 1_700_000_000n, 'the seconds prefix is kept');
  });

  it('prunes rows older than the retention', () => {
    const store = new TaskLogStore(join(dir, 'prune.sqlite'));
    store.append('stderr', 'j', 'n', 'old', 1_000_000_000_000);
    store.append('stderr', 'j', 'n', 'new', Date.now());
    assert.equal(store.prune(3600), 1);
    assert.deepEqual(
      queryTaskLogs(store.db, { table: 'stderr', sort: 'asc' }).lines.map((l) => l[3]),
      ['new'],
    );
    store.close();
  });
});
