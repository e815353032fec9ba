import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeConfig, parseConfig } from '../../src/config/config.js';
import { DEFAULT_BACKOFF } from '../../src/config/backoff.js';
import { formatIssue, ConfigError } from '../../src/config/issues.js';
import { configObject, config } from '../helpers/config.js';

function settingsErrors(settings: Record<string, unknown>): string[] {
  return analyzeConfig(configObject(settings)).settingsErrors.map(formatIssue);
}

describe('bistro_settings defaults', () => {
  it('uses the original defaults for every optional key', () => {
    const { settings } = parseConfig({ bistro_settings: { nodes: { levels: ['a'] }, resources: {} } });
    assert.equal(settings.enabled, false);
    assert.equal(settings.workingWaitSec, 0.5);
    assert.equal(settings.idleWaitSec, 5);
    assert.equal(settings.scheduler, 'roundrobin');
    assert.equal(settings.remoteWorkerSelector, 'roundrobin');
    assert.deepEqual(settings.backoff, DEFAULT_BACKOFF);
    assert.deepEqual(settings.levels, ['instance', 'a', 'worker']);
    assert.equal(settings.nodeOrder, 'random');
    assert.equal(settings.levelForTasks, 1);
    assert.equal(settings.killOrphanTasksAfterSec, null);
    assert.equal(settings.killTasksExceedingResourcesAfterSec, null);
    assert.deepEqual(settings.killSubprocess, { method: 'term', killWaitMs: 0 });
    assert.equal(settings.taskSubprocess.pollMs, 10);
    assert.equal(settings.taskSubprocess.maxLogLinesPerPollInterval, 50);
    assert.equal(settings.taskSubprocess.parentDeathSignal, 9);
    assert.equal(settings.taskSubprocess.processGroupLeader, true);
    assert.equal(settings.taskSubprocess.useCanaryPipe, true);
    assert.equal(settings.taskSubprocess.pidNamespace, false);
    assert.equal(settings.taskSubprocess.cgroups, undefined, 'absent cgroups means auto-detect');
    assert.deepEqual(settings.nodeSources, []);
  });

  it('defaults level_for_tasks to instance when there are no levels', () => {
    const { settings } = parseConfig({ bistro_settings: { nodes: { levels: [] }, resources: {} } });
    assert.equal(settings.levelForTasks, 0);
  });

  it('honours the deprecated kill-by-default switch unless the key is set', () => {
    const input = { bistro_settings: { nodes: { levels: [] }, resources: {} } };
    assert.equal(parseConfig(input, { killOrphansByDefault: true }).settings.killOrphanTasksAfterSec, 0);
    const explicit = {
      bistro_settings: { nodes: { levels: [] }, resources: {}, kill_orphan_tasks_after_sec: false },
    };
    assert.equal(
      parseConfig(explicit, { killOrphansByDefault: true }).settings.killOrphanTasksAfterSec,
      null,
    );
  });
});

describe('bistro_settings keys', () => {
  it('parses every kill_orphan_tasks_after_sec form', () => {
    const cases: [unknown, number | null][] = [
      [true, 0],
      [false, null],
      [0, 0],
      [2.5, 2.5],
      [-1, null],
      [-0.5, null],
    ];
    for (const [value, expected] of cases) {
      assert.equal(
        config({ kill_orphan_tasks_after_sec: value }).settings.killOrphanTasksAfterSec,
        expected,
        String(value),
      );
      assert.equal(
        config({ kill_tasks_exceeding_resources_after_sec: value }).settings
          .killTasksExceedingResourcesAfterSec,
        expected,
      );
    }
    assert.match(
      settingsErrors({ kill_orphan_tasks_after_sec: '5' })[0]!,
      /bistro_settings\.kill_orphan_tasks_after_sec: expected true, false or a number/,
    );
  });

  it('parses resources per level with defaults, limits and weights', () => {
    const { settings } = config({
      resources: {
        instance: { a: { limit: 3, default: 1 } },
        db: { b: { limit: 1, default: 0, weight: 2 } },
        worker: { c: { limit: 4, default: 1 } },
      },
    });
    assert.deepEqual(settings.resources, [
      { name: 'a', levelId: 0, limit: 3, defaultAmount: 1, weight: 0 },
      { name: 'b', levelId: 2, limit: 1, defaultAmount: 0, weight: 2 },
      { name: 'c', levelId: 3, limit: 4, defaultAmount: 1, weight: 0 },
    ]);
  });

  it('rejects bad resources with their key paths', () => {
    const errors = settingsErrors({
      resources: {
        nosuchlevel: { x: { limit: 1, default: 1 } },
        host: { a: { limit: -1, default: 1 }, b: { default: 1 } },
        db: { a: { limit: 1, default: 1 } },
      },
    });
    assert.ok(
      errors.some((e) => e.startsWith('bistro_settings.resources.nosuchlevel: unknown level')),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) =>
        e.startsWith('bistro_settings.resources.host.a.limit: expected an integer >= 0, received -1'),
      ),
    );
    assert.ok(
      errors.some((e) =>
        e.startsWith('bistro_settings.resources.host.b.limit: required key "limit" is missing'),
      ),
    );
    assert.ok(
      errors.some((e) =>
        e.startsWith('bistro_settings.resources.db.a: resource "a" is already defined at level "host"'),
      ),
    );
  });

  it('requires nodes and resources', () => {
    const errors = analyzeConfig({ bistro_settings: {} }).settingsErrors.map(formatIssue);
    assert.ok(
      errors.some((e) => e.startsWith('bistro_settings.nodes: required key')),
      errors.join('\n'),
    );
    assert.ok(errors.some((e) => e.startsWith('bistro_settings.resources: required key')));
    assert.throws(() => parseConfig({}), ConfigError);
    assert.throws(() => parseConfig([]), /expected a JSON object/);
  });

  it('rejects duplicate and reserved level names', () => {
    const errors = settingsErrors({ nodes: { levels: ['a', 'a', 'worker', 'instance', 'b c'] } });
    assert.ok(
      errors.includes('bistro_settings.nodes.levels[1]: level "a" is listed twice'),
      errors.join('\n'),
    );
    assert.ok(errors.includes('bistro_settings.nodes.levels[2]: "worker" is a reserved level name'));
    assert.ok(errors.includes('bistro_settings.nodes.levels[3]: "instance" is a reserved level name'));
    assert.ok(errors.some((e) => e.startsWith('bistro_settings.nodes.levels[4]: expected a level name')));
  });

  it('accepts node_order inside nodes and at the top level, and rejects a conflict', () => {
    assert.equal(
      config({ nodes: { levels: ['host', 'db'], node_order: 'lexicographic' } }).settings.nodeOrder,
      'lexicographic',
    );
    assert.equal(config({ node_order: 'original' }).settings.nodeOrder, 'original');
    const errors = settingsErrors({
      node_order: 'original',
      nodes: { levels: ['host', 'db'], node_order: 'lexicographic' },
    });
    assert.match(errors[0]!, /^bistro_settings\.node_order: conflicts with nodes\.node_order/);
    assert.match(
      settingsErrors({ node_order: 'sideways' })[0]!,
      /^bistro_settings\.node_order: expected one of original, lexicographic, random/,
    );
  });

  it('validates scheduler, level_for_tasks, waits and node sources', () => {
    assert.match(
      settingsErrors({ scheduler: 'fifo' })[0]!,
      /^bistro_settings\.scheduler: expected one of roundrobin/,
    );
    assert.match(
      settingsErrors({ level_for_tasks: 'rack' })[0]!,
      /^bistro_settings\.level_for_tasks: unknown level "rack"/,
    );
    assert.match(
      settingsErrors({ working_wait: -1 })[0]!,
      /^bistro_settings\.working_wait: expected a number >= 0/,
    );
    assert.match(
      settingsErrors({ nodes: { levels: ['host', 'db'], node_sources: [{ source: 'magic' }] } })[0]!,
      /^bistro_settings\.nodes\.node_sources\[0\]\.source: expected a node source/,
    );
    assert.match(
      settingsErrors({
        nodes: { levels: ['host', 'db'], node_sources: [{ source: 'empty', prefs: 3 }] },
      })[0]!,
      /^bistro_settings\.nodes\.node_sources\[0\]\.prefs: expected an object/,
    );
    assert.equal(config({ level_for_tasks: 'host' }).settings.levelForTasks, 1);
  });

  it('parses task_subprocess field by field with the SPEC defaults', () => {
    const { settings } = config({
      task_subprocess: {
        poll_ms: 0,
        parent_death_signal: 15,
        cgroups: { subsystems: ['memory', 'freezer'], slice: 'bistro.slice' },
      },
    });
    assert.equal(settings.taskSubprocess.pollMs, 1, 'poll_ms below 1 is treated as 1');
    assert.equal(settings.taskSubprocess.parentDeathSignal, 15);
    assert.equal(settings.taskSubprocess.processGroupLeader, true);
    assert.deepEqual(settings.taskSubprocess.cgroups?.subsystems, ['memory', 'freezer']);
    assert.equal(settings.taskSubprocess.cgroups?.unkillableTimeoutSec, 60);
    assert.match(
      settingsErrors({ task_subprocess: { parent_death_signal: 99 } })[0]!,
      /task_subprocess\.parent_death_signal: expected a signal number/,
    );
    assert.match(
      settingsErrors({ task_subprocess: { cgroups: { version: 'v3' } } })[0]!,
      /task_subprocess\.cgroups\.version: expected "v1" or "v2"/,
    );
    assert.match(
      settingsErrors({ task_subprocess: { use_canary_pipe: 'yes' } })[0]!,
      /use_canary_pipe: expected true or false, received "yes" \(string\)/,
    );
  });

  it('accepts kill_request as an alias of kill_subprocess but not both', () => {
    assert.deepEqual(
      config({ kill_request: { method: 'term_wait_kill', kill_wait_ms: 15000 } }).settings.killSubprocess,
      {
        method: 'term_wait_kill',
        killWaitMs: 15000,
      },
    );
    assert.deepEqual(config({ kill_subprocess: { method: 'kill' } }).settings.killSubprocess, {
      method: 'kill',
      killWaitMs: 0,
    });
    const errors = settingsErrors({ kill_request: { method: 'kill' }, kill_subprocess: { method: 'term' } });
    assert.match(
      errors[0]!,
      /^bistro_settings\.kill_request: both "kill_subprocess" and its alias "kill_request" are set/,
    );
    assert.match(
      settingsErrors({ kill_subprocess: { method: 'nuke' } })[0]!,
      /kill_subprocess\.method: expected one of "term", "kill", "term_wait_kill"/,
    );
  });

  it('parses physical_resources and worker_resources_override', () => {
    const { settings } = config({
      resources: { worker: { ram_gb: { limit: 64, default: 1 }, cores: { limit: 16, default: 1 } } },
      physical_resources: {
        ram_mb: {
          logical_resource: 'ram_gb',
          multiply_logical_by: 1024,
          enforcement: 'hard',
          physical_reserve_amount: 2048,
        },
        cpu_core: { logical_resource: 'cores', enforcement: 'soft' },
      },
      worker_resources_override: { 'host1:1234': { cores: 4 } },
    });
    assert.deepEqual(settings.physicalResources.ram_mb, {
      logicalResource: 'ram_gb',
      multiplyLogicalBy: 1024,
      enforcement: 'hard',
      physicalReserveAmount: 2048,
    });
    assert.equal(settings.physicalResources.cpu_core?.enforcement, 'soft');
    assert.deepEqual(settings.workerResourcesOverride, { 'host1:1234': { cores: 4 } });
    const errors = settingsErrors({
      resources: { worker: { ram_gb: { limit: 64, default: 1 } } },
      physical_resources: {
        ram_mb: { logical_resource: 'ram_gb', enforcement: 'soft', multiply_logical_by: 0 },
        disk_gb: {},
      },
    });
    assert.ok(
      errors.some((e) =>
        e.startsWith('bistro_settings.physical_resources.ram_mb.enforcement: expected one of "none", "hard"'),
      ),
      errors.join('\n'),
    );
    assert.ok(
      errors.some((e) =>
        e.startsWith('bistro_settings.physical_resources.ram_mb.multiply_logical_by: must not be zero'),
      ),
    );
    assert.ok(
      errors.some((e) =>
        e.startsWith('bistro_settings.physical_resources.disk_gb: unknown physical resource'),
      ),
    );
  });

  it('warns about unknown keys, including typos inside kill settings', () => {
    const analysis = analyzeConfig(
      configObject({ kill_subprocess: { method: 'kill', kill_wiat_ms: 5 }, enabeld: true }, {}),
    );
    const warnings = analysis.warnings.map(formatIssue);
    assert.ok(
      warnings.includes('bistro_settings.kill_subprocess: unknown key "kill_wiat_ms" ignored'),
      warnings.join('\n'),
    );
    assert.ok(warnings.includes('bistro_settings: unknown key "enabeld" ignored'));
    assert.equal(analysis.settingsErrors.length, 0);
  });

  it('reports every settings problem in one ConfigError', () => {
    try {
      parseConfig(configObject({ scheduler: 1, idle_wait: 'x' }));
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.issues.length, 2);
      assert.match(error.message, /^Invalid config: bistro_settings\.idle_wait/);
    }
  });
});
