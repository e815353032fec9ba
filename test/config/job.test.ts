import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobIssues, parseConfig } from '../../src/config/config.js';
import { formatIssue } from '../../src/config/issues.js';
import { jobCanRun, parseJob, serializeJob } from '../../src/config/job.js';
import { config, configObject } from '../helpers/config.js';

const base = config();

function job(input: unknown, name = 'j') {
  return parseJob(name, input, base.settings);
}

function errorsOf(input: unknown, name = 'j'): string[] {
  return jobIssues(parseConfig(configObject({}, { [name]: input }))).map(formatIssue);
}

describe('job parsing', () => {
  it('inherits settings values field by field', () => {
    const settings = config({
      backoff: [1, 2, 'repeat'],
      kill_orphan_tasks_after_sec: 3,
      level_for_tasks: 'host',
      task_subprocess: { poll_ms: 50, cgroups: { subsystems: ['memory', 'freezer'], slice: 's' } },
      kill_subprocess: { method: 'term_wait_kill', kill_wait_ms: 100 },
    }).settings;
    const parsed = parseJob(
      'j',
      {
        owner: 'me',
        task_subprocess: { use_canary_pipe: false, cgroups: { subsystems: ['memory'] } },
        kill_subprocess: { kill_wait_ms: 5 },
      },
      settings,
    );
    assert.deepEqual(parsed.backoff, { values: [1, 2], repeat: true });
    assert.equal(parsed.killOrphanTasksAfterSec, 3);
    assert.equal(parsed.levelForTasks, 1);
    assert.equal(parsed.taskSubprocess.pollMs, 50, 'inherited');
    assert.equal(parsed.taskSubprocess.useCanaryPipe, false, 'overridden');
    assert.deepEqual(
      parsed.taskSubprocess.cgroups?.subsystems,
      ['memory'],
      'a job subsystems list replaces the inherited one',
    );
    assert.equal(parsed.taskSubprocess.cgroups?.slice, 's', 'other cgroups fields are inherited');
    assert.deepEqual(parsed.killSubprocess, { method: 'term_wait_kill', killWaitMs: 5 });
    assert.deepEqual(parsed.resources, { instance_concurrency: 1, host_concurrency: 1 });
    assert.ok(jobCanRun(parsed));
  });

  it('uses the job defaults', () => {
    const parsed = job({ owner: 'me' });
    assert.equal(parsed.enabled, true);
    assert.equal(parsed.priority, 1);
    assert.deepEqual(parsed.command, []);
    assert.deepEqual(parsed.config, {});
    assert.deepEqual(parsed.dependsOn, []);
    assert.equal(parsed.versionId, -1);
    assert.equal(parsed.errors, undefined);
  });

  it('parses every job key', () => {
    const parsed = job({
      owner: 'me',
      enabled: false,
      command: ['/bin/echo', 'x'],
      priority: 2.5,
      config: { a: [1] },
      resources: { host_concurrency: 2 },
      backoff: ['fail'],
      filters: {
        host: {
          whitelist: ['h1'],
          whitelist_regex: '^h',
          blacklist: ['h2'],
          blacklist_regex: 'x$',
          fraction_of_nodes: 0.5,
          tag_whitelist: ['t'],
        },
      },
      depends_on: ['other'],
      run_only_after_all_nodes_are_done_for: ['first'],
      level_for_tasks: 'host',
      kill_orphan_tasks_after_sec: true,
      kill_tasks_exceeding_resources_after_sec: 1.5,
      host_placement: 'h9',
      level_for_host_placement: 'host',
      create_time: 10,
      modify_time: 20,
      version_id: 7,
      task_subprocess: { pid_namespace: true },
      kill_request: { method: 'kill' },
    });
    assert.equal(parsed.errors, undefined, JSON.stringify(parsed.issues));
    assert.equal(jobCanRun(parsed), false, 'disabled');
    assert.deepEqual(parsed.backoff, { values: [], repeat: false });
    assert.equal(parsed.filters['host']?.fractionOfNodes, 0.5);
    assert.equal(parsed.killOrphanTasksAfterSec, 0);
    assert.equal(parsed.killTasksExceedingResourcesAfterSec, 1.5);
    assert.equal(parsed.levelForHostPlacement, 1);
    assert.equal(parsed.taskSubprocess.pidNamespace, true);
    assert.deepEqual(parsed.killSubprocess, { method: 'kill', killWaitMs: 0 });
    assert.equal(parsed.resources['host_concurrency'], 2);
  });

  it('treats fraction_of_nodes <= 0 as all nodes and drops trivial filters', () => {
    assert.deepEqual(job({ owner: 'me', filters: { host: { fraction_of_nodes: 0 } } }).filters, {});
    assert.deepEqual(
      job({ owner: 'me', filters: { host: { whitelist: [], whitelist_regex: '' } } }).filters,
      {},
    );
  });

  it('records each invalid form under its key path', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{}, /^bistro_job->j\.owner: required key "owner" is missing$/],
      [{ owner: 1 }, /^bistro_job->j\.owner: expected a string, received 1 \(number\)$/],
      [{ owner: 'o', enabled: 'yes' }, /^bistro_job->j\.enabled: expected true or false/],
      [{ owner: 'o', command: 'ls' }, /^bistro_job->j\.command: expected an array of strings/],
      [{ owner: 'o', priority: 'high' }, /^bistro_job->j\.priority: expected a number/],
      [{ owner: 'o', config: [] }, /^bistro_job->j\.config: expected an object/],
      [{ owner: 'o', resources: { nope: 1 } }, /^bistro_job->j\.resources\.nope: unknown resource/],
      [
        { owner: 'o', resources: { host_concurrency: -2 } },
        /^bistro_job->j\.resources\.host_concurrency: expected an integer >= 0, received -2/,
      ],
      [
        { owner: 'o', backoff: [5, 5] },
        /^bistro_job->j\.backoff: item 1: values must be strictly increasing/,
      ],
      [
        { owner: 'o', backoff: ['repeat'] },
        /^bistro_job->j\.backoff: item 0: "repeat" needs at least one number/,
      ],
      [{ owner: 'o', backoff: [] }, /^bistro_job->j\.backoff: expected a non-empty array/],
      [{ owner: 'o', backoff: [0] }, /^bistro_job->j\.backoff: item 0: expected a positive integer/],
      [
        { owner: 'o', backoff: [1, 'again'] },
        /^bistro_job->j\.backoff: item 1: expected a positive integer, "repeat" or "fail"/,
      ],
      [{ owner: 'o', filters: { rack: {} } }, /^bistro_job->j\.filters\.rack: unknown level "rack"/],
      [
        { owner: 'o', filters: { host: { whitelist_regex: '(' } } },
        /^bistro_job->j\.filters\.host\.whitelist_regex: invalid regular expression/,
      ],
      [
        { owner: 'o', filters: { host: { fraction_of_nodes: 2 } } },
        /^bistro_job->j\.filters\.host\.fraction_of_nodes: expected a number <= 1/,
      ],
      [{ owner: 'o', depends_on: ['a', 3] }, /^bistro_job->j\.depends_on: expected an array of job names/],
      [{ owner: 'o', level_for_tasks: 'bogus' }, /^bistro_job->j\.level_for_tasks: unknown level "bogus"/],
      [
        { owner: 'o', kill_orphan_tasks_after_sec: 'soon' },
        /^bistro_job->j\.kill_orphan_tasks_after_sec: expected true, false or a number/,
      ],
      [
        { owner: 'o', task_subprocess: { poll_ms: 'fast' } },
        /^bistro_job->j\.task_subprocess\.poll_ms: expected an integer/,
      ],
      [
        { owner: 'o', kill_subprocess: { kill_wait_ms: 1.5 } },
        /^bistro_job->j\.kill_subprocess\.kill_wait_ms: expected an integer/,
      ],
      [{ owner: 'o', version_id: 'v1' }, /^bistro_job->j\.version_id: expected an integer/],
    ];
    for (const [input, expected] of cases) {
      const errors = errorsOf(input);
      assert.equal(errors.length, 1, `${JSON.stringify(input)} -> ${errors.join(' | ')}`);
      assert.match(errors[0]!, expected);
      assert.notEqual(job(input).errors, undefined);
      assert.equal(jobCanRun(job(input)), false);
    }
  });

  it('validates job names', () => {
    assert.match(
      errorsOf({ owner: 'o' }, 'bad/name')[0]!,
      /job name "bad\/name" must be 1 to 240 characters/,
    );
    assert.match(errorsOf({ owner: 'o' }, '..')[0]!, /job name "\.\." is reserved/);
    assert.match(errorsOf({ owner: 'o' }, 'x'.repeat(241))[0]!, /must be 1 to 240 characters/);
    assert.equal(errorsOf({ owner: 'o' }, 'ok.name-1_2').length, 0);
  });

  it('keeps an invalid job with a Bistro-style errors record, and the other jobs go on', () => {
    const cfg = parseConfig(
      configObject(
        {},
        { good: { owner: 'o' }, bad: { level_for_tasks: 'bogus', owner: 'o' }, noowner: { priority: 2 } },
      ),
    );
    assert.equal(cfg.jobs.size, 3);
    assert.ok(jobCanRun(cfg.jobs.get('good')!));
    assert.deepEqual(cfg.jobs.get('bad')!.errors, {
      nested: {
        level_for_tasks: {
          error: 'unknown level "bogus"; levels are instance, host, db, worker',
          value: 'bogus',
        },
      },
    });
    assert.deepEqual(cfg.jobs.get('noowner')!.errors, {
      key_errors: { owner: 'required key "owner" is missing' },
      value: { priority: 2 },
    });
  });

  it('drops failed fields from the serialized job and keeps their input in errors', () => {
    const parsed = job({ owner: 'o', priority: 'high', version_id: 'v' });
    const out = serializeJob(parsed, base.settings);
    assert.equal(out['priority'], 1, 'the default stands in');
    assert.equal('version_id' in out, false);
    assert.deepEqual(
      (out['errors'] as { nested: Record<string, { value: unknown }> }).nested['priority']!.value,
      'high',
    );
  });

  it('round-trips an invalid job without losing or growing its errors', () => {
    const first = job({ owner: 'o', priority: 'high' });
    const saved = serializeJob(first, base.settings);
    const second = job(saved);
    assert.deepEqual(second.errors, first.errors);
    assert.deepEqual(serializeJob(second, base.settings), saved);
    assert.equal(jobCanRun(second), false, 'a job that arrives with errors stays invalid');
    // Removing the errors key makes it valid again.
    const { errors: _errors, ...fixed } = saved;
    assert.equal(job(fixed).errors, undefined);
  });

  it('records a level or resource named like a prototype property as an error, and touches no prototype', () => {
    // As a config file arrives: JSON.parse makes `__proto__` an own key.
    const input = JSON.parse(
      '{"owner": "o", "filters": {"__proto__": {"whitelist": ["a"]}}, "resources": {"__proto__": 1, "constructor": 2}}',
    ) as unknown;
    const first = job(input);
    const nested = first.errors!.nested!;
    assert.ok(Object.hasOwn(nested['filters']!.nested!, '__proto__'));
    assert.match(nested['filters']!.nested!['__proto__']!.error!, /unknown level "__proto__"/);
    assert.match(nested['resources']!.nested!['__proto__']!.error!, /unknown resource/);
    assert.match(nested['resources']!.nested!['constructor']!.error!, /unknown resource/);
    assert.equal(Object.hasOwn(first.resources, 'constructor'), false);
    for (const key of ['error', 'value', 'nested'])
      assert.equal(key in {}, false, `Object.prototype has no "${key}"`);
    const saved = JSON.parse(JSON.stringify(serializeJob(first, base.settings))) as Record<string, unknown>;
    assert.deepEqual(job(saved).errors, JSON.parse(JSON.stringify(first.errors)));
  });

  it('treats an empty errors object as harmless', () => {
    assert.equal(job({ owner: 'o', errors: {} }).errors, undefined);
  });

  it('serializes as the jobs handler returns it', () => {
    const parsed = job({
      owner: 'o',
      command: ['x'],
      filters: { db: { blacklist: ['d'] } },
      depends_on: ['a'],
      create_time: 5,
    });
    assert.deepEqual(serializeJob(parsed, base.settings), {
      enabled: true,
      owner: 'o',
      level_for_tasks: 'db',
      priority: 1,
      config: {},
      backoff: [15, 30, 60, 300, 900, 3600, 7200, 21600, 86400, 'repeat'],
      kill_orphan_tasks_after_sec: false,
      kill_tasks_exceeding_resources_after_sec: false,
      task_subprocess: {
        poll_ms: 10,
        max_log_lines_per_poll_interval: 50,
        parent_death_signal: 9,
        process_group_leader: true,
        use_canary_pipe: true,
        pid_namespace: false,
      },
      kill_subprocess: { method: 'term', kill_wait_ms: 0 },
      resources: { instance_concurrency: 1, host_concurrency: 1 },
      filters: { db: { blacklist: ['d'] } },
      depends_on: ['a'],
      create_time: 5,
      command: ['x'],
    });
  });

  it('warns about unknown job keys with the job path', () => {
    const cfg = parseConfig(configObject({}, { j: { owner: 'o', kill_orphans_after_sec: 1 } }));
    assert.deepEqual(cfg.warnings.map(formatIssue), [
      'bistro_job->j: unknown key "kill_orphans_after_sec" ignored',
    ]);
  });
});
