import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseJob, serializeJob } from '../../src/config/job.js';
import { config } from '../helpers/config.js';

const { settings } = config({
  resources: { instance: { slots: { limit: 5, default: 1 } }, host: { h: { limit: 2, default: 0 } } },
});

const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
const backoff = fc
  .uniqueArray(fc.integer({ min: 1, max: 100000 }), { minLength: 0, maxLength: 5 })
  .chain((values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length === 0
      ? fc.constant<(number | string)[]>(['fail'])
      : fc.constantFrom<(number | string)[]>(sorted, [...sorted, 'repeat'], [...sorted, 'fail']);
  });
const killDelay = fc.oneof(
  fc.boolean(),
  fc.double({ min: -5, max: 1e6, noNaN: true }),
  fc.integer({ min: 0, max: 3600 }),
);
const level = fc.constantFrom('instance', 'host', 'db');
const filter = fc.record(
  {
    whitelist: fc.array(name, { maxLength: 3 }),
    whitelist_regex: fc.constantFrom('', '^a', 'b+$'),
    blacklist: fc.array(name, { maxLength: 3 }),
    blacklist_regex: fc.constantFrom('', 'x', '[0-9]'),
    fraction_of_nodes: fc.double({ min: -1, max: 1, noNaN: true }),
    tag_whitelist: fc.array(name, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);
const json = fc.jsonValue({ maxDepth: 2 });

const validJob = fc.record(
  {
    owner: fc.string(),
    enabled: fc.boolean(),
    command: fc.array(fc.string(), { maxLength: 3 }),
    priority: fc.double({ min: 0, max: 1000, noNaN: true }),
    config: fc.dictionary(name, json, { maxKeys: 3 }),
    resources: fc.record({ slots: fc.nat(5), h: fc.nat(2) }, { requiredKeys: [] }),
    backoff,
    filters: fc.dictionary(level, filter, { maxKeys: 2 }),
    depends_on: fc.array(name, { maxLength: 3 }),
    run_only_after_all_nodes_are_done_for: fc.array(name, { maxLength: 2 }),
    level_for_tasks: level,
    kill_orphan_tasks_after_sec: killDelay,
    kill_tasks_exceeding_resources_after_sec: killDelay,
    task_subprocess: fc.record(
      {
        poll_ms: fc.integer({ min: 1, max: 1000 }),
        max_log_lines_per_poll_interval: fc.integer({ min: -1, max: 1000 }),
        parent_death_signal: fc.integer({ min: 0, max: 64 }),
        process_group_leader: fc.boolean(),
        use_canary_pipe: fc.boolean(),
        pid_namespace: fc.boolean(),
        cgroups: fc.record(
          {
            root: fc.constantFrom('', '/sys/fs/cgroup'),
            slice: fc.constantFrom('', 'bistro.slice'),
            subsystems: fc.subarray(['memory', 'cpu', 'freezer', 'pids']),
            kill_without_freezer: fc.boolean(),
            version: fc.constantFrom('v1', 'v2'),
            unkillable_timeout_sec: fc.nat(600),
            pids_max: fc.nat(1000),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    kill_subprocess: fc.record(
      {
        method: fc.constantFrom('term', 'kill', 'term_wait_kill'),
        kill_wait_ms: fc.integer({ min: -10, max: 60000 }),
      },
      { requiredKeys: [] },
    ),
    host_placement: fc.string(),
    level_for_host_placement: level,
    create_time: fc.nat(),
    modify_time: fc.nat(),
    version_id: fc.integer({ min: -1, max: 1000 }),
  },
  { requiredKeys: ['owner'] },
);

/** Any job-ish object: valid fields mixed with values of the wrong type. */
const anyJob = fc.dictionary(
  fc.constantFrom(
    'owner',
    'enabled',
    'priority',
    'backoff',
    'level_for_tasks',
    'resources',
    'filters',
    'depends_on',
    'version_id',
    'kill_orphan_tasks_after_sec',
    'task_subprocess',
    'config',
  ),
  fc.oneof(json, fc.constant('bogus'), fc.constant(-3), fc.constant({ nope: 1 })),
);

describe('job serialization properties', () => {
  it('serialize -> parse is the identity for any valid job', () => {
    fc.assert(
      fc.property(validJob, (generated) => {
        // Config files are JSON text; -0 and 0 are the same number there.
        const input = JSON.parse(JSON.stringify(generated), (_key, value: unknown) =>
          Object.is(value, -0) ? 0 : value,
        );
        const first = parseJob('j', input, settings);
        assert.equal(first.errors, undefined, JSON.stringify(first.issues));
        const serialized = serializeJob(first, settings);
        const second = parseJob('j', JSON.parse(JSON.stringify(serialized)), settings);
        assert.equal(second.errors, undefined, JSON.stringify(second.issues));
        const { issues: _i1, warnings: _w1, ...a } = first;
        const { issues: _i2, warnings: _w2, ...b } = second;
        assert.deepEqual(b, a);
        assert.deepEqual(serializeJob(second, settings), serialized);
      }),
      { numRuns: 500 },
    );
  });

  it('a job with errors round-trips losslessly: same errors, same serialized form', () => {
    fc.assert(
      fc.property(anyJob, (input) => {
        const first = parseJob('j', input, settings);
        const serialized = JSON.parse(JSON.stringify(serializeJob(first, settings))) as Record<
          string,
          unknown
        >;
        const second = parseJob('j', serialized, settings);
        if (first.errors === undefined) {
          assert.equal(second.errors, undefined);
        } else {
          assert.deepEqual(second.errors, JSON.parse(JSON.stringify(first.errors)));
        }
        assert.deepEqual(JSON.parse(JSON.stringify(serializeJob(second, settings))), serialized);
      }),
      { numRuns: 500 },
    );
  });
});
