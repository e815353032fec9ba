import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { referencePass } from '../../bench/referenceScheduler.js';
import { parseConfig } from '../../src/config/config.js';
import { fetchNodes } from '../../src/nodes/fetchNodes.js';
import { Scheduler } from '../../src/scheduler/pass.js';
import { seededRandom } from '../../src/scheduler/random.js';
import { parseStatusReport } from '../../src/statuses/parseStatus.js';
import { TaskStatuses } from '../../src/statuses/taskStatuses.js';

const nodeName = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g');
const manualPrefs = fc.dictionary(
  fc.constantFrom('h1', 'h2', 'h3'),
  fc.oneof(
    fc.uniqueArray(nodeName, { maxLength: 4 }),
    fc.record({ children: fc.uniqueArray(nodeName, { maxLength: 4 }), disabled: fc.boolean() }),
  ),
  { minKeys: 1 },
);
const filter = fc.record(
  {
    whitelist: fc.array(fc.oneof(nodeName, fc.constantFrom('h1', 'h2')), { maxLength: 3 }),
    blacklist: fc.array(nodeName, { maxLength: 2 }),
    whitelist_regex: fc.constantFrom('', '[a-d]', '^h'),
    fraction_of_nodes: fc.constantFrom(1, 0.5),
  },
  { requiredKeys: [] },
);
const job = fc.record(
  {
    owner: fc.constant('o'),
    enabled: fc.constantFrom(true, true, true, false),
    priority: fc.integer({ min: 0, max: 3 }),
    resources: fc.record(
      { slots: fc.nat(2), host_slots: fc.nat(2), db_slots: fc.nat(1) },
      { requiredKeys: [] },
    ),
    filters: fc.dictionary(fc.constantFrom('host', 'db'), filter, { maxKeys: 2 }),
    depends_on: fc.constantFrom([], [], [], ['j0'], ['j1', 'j2']),
    run_only_after_all_nodes_are_done_for: fc.constantFrom([], [], [], [], ['j0']),
    level_for_tasks: fc.constantFrom('host', 'db'),
  },
  { requiredKeys: ['owner'] },
);
const scenario = fc.record({
  prefs: manualPrefs,
  policy: fc.constantFrom('roundrobin', 'ranked_priority', 'long_tail'),
  order: fc.constantFrom('original', 'lexicographic', 'random'),
  limits: fc.tuple(
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 0, max: 2 }),
  ),
  jobs: fc.array(job, { minLength: 1, maxLength: 3 }),
  reports: fc.array(fc.constantFrom('done', 'failed', 'error_backoff', 'incomplete', 'incomplete_backoff'), {
    minLength: 12,
    maxLength: 12,
  }),
  seed: fc.nat(),
  // A random order drawn a position at a time, then (after this many) from a scan: the same order.
  drawsBeforeScan: fc.constantFrom(undefined, 0, 1, 3),
});

describe('scheduling pass vs the reference implementation', () => {
  it('starts the same tasks in the same order, pass after pass', async () => {
    let totalStarts = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const input: Record<string, unknown> = {
          bistro_settings: {
            enabled: true,
            scheduler: s.policy,
            backoff: [5, 'repeat'],
            nodes: {
              levels: ['host', 'db'],
              node_order: s.order,
              node_sources: [{ source: 'manual', prefs: s.prefs }],
            },
            resources: {
              instance: { slots: { limit: s.limits[0], default: 1 } },
              host: { host_slots: { limit: s.limits[1], default: 1 } },
              db: { db_slots: { limit: s.limits[2], default: 1 } },
            },
          },
        };
        s.jobs.forEach((j, i) => (input[`bistro_job->j${i}`] = j));
        const config = parseConfig(input);
        const nodes = await fetchNodes(config.settings, { instanceName: 'i' });
        const statuses = new TaskStatuses();
        const scheduler = new Scheduler({ drawsBeforeScan: s.drawsBeforeScan });
        const ours = seededRandom(s.seed);
        const theirs = seededRandom(s.seed);
        let report = 0;
        let invocation = 0;
        for (let pass = 0; pass < 4; pass++) {
          const now = 1000 + pass * 10;
          const expected = referencePass(config, nodes, statuses, now, theirs);
          const result = scheduler.run({ config, nodes, statuses, now, random: ours });
          assert.deepEqual(
            result.starts.map((st) => `${st.job.name}:${st.node}`),
            expected,
          );
          totalStarts += expected.length;
          for (const start of result.starts) {
            statuses.recordStart({
              job: start.job.name,
              node: start.node,
              invocationId: `i${invocation++}`,
              startTime: now,
              charges: start.charges,
              backoff: start.backoff,
              workerShard: 'local',
            });
          }
          // Finish about half of the running tasks with assorted reports.
          for (const task of [...statuses.runningTasks()].slice(0, 2)) {
            statuses.recordFinish(
              task.job,
              task.node,
              task.invocationId,
              parseStatusReport(s.reports[report++ % s.reports.length]!),
              now + 1,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
    assert.ok(totalStarts > 300, `the scenarios started tasks (${totalStarts})`);
  });
});
