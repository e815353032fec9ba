import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigAssembly } from '../../src/config/configAssembly.js';
import { parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/issues.js';

const SETTINGS = {
  enabled: true,
  nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs: { d1: [] } }] },
  resources: {},
  backoff: [5, 'fail'],
};

function assembled(entries: Record<string, unknown>): ConfigAssembly {
  const assembly = new ConfigAssembly();
  Object.entries(entries).forEach(([key, value], index) => assembly.set(key, value, index + 1));
  return assembly;
}

describe('a config assembled from entries', () => {
  it('is what parseConfig makes of the same object, jobs in entry order', () => {
    const object = {
      bistro_settings: SETTINGS,
      'bistro_job->b': { owner: 'o' },
      'bistro_job->a': { owner: 'o', priority: 'high' },
      stray: 1,
    };
    const built = assembled(object).build();
    const parsed = parseConfig(object);
    assert.deepEqual([...built.jobs.keys()], ['b', 'a']);
    assert.deepEqual(built.jobs, parsed.jobs);
    assert.deepEqual(built.warnings, parsed.warnings);
    assert.deepEqual(built.settings, parsed.settings);
  });

  it('re-parses only the job that changed, and every job when the settings change', () => {
    const assembly = assembled({
      bistro_settings: SETTINGS,
      'bistro_job->a': { owner: 'o' },
      'bistro_job->b': { owner: 'o' },
    });
    const first = assembly.build();
    assembly.set('bistro_job->b', { owner: 'p' }, 3);
    assembly.set('bistro_job->c', { owner: 'q' }, 10);
    const second = assembly.build();
    assert.equal(second.jobs.get('a'), first.jobs.get('a'), 'unchanged job keeps its object');
    assert.equal(second.jobs.get('b')!.owner, 'p');
    assert.deepEqual([...second.jobs.keys()], ['a', 'b', 'c']);
    assembly.set('bistro_settings', { ...SETTINGS, backoff: [9, 'fail'] }, 1);
    const third = assembly.build();
    assert.notEqual(third.jobs.get('a'), second.jobs.get('a'));
    assert.deepEqual(third.jobs.get('a')!.backoff.values, [9]);
    assembly.set('bistro_job->a', undefined, 0);
    assert.deepEqual([...assembly.build().jobs.keys()], ['b', 'c']);
  });

  it('unusable settings throw, naming the key, and the next good settings build again', () => {
    const assembly = assembled({ bistro_settings: SETTINGS, 'bistro_job->a': { owner: 'o' } });
    assembly.build();
    assembly.set('bistro_settings', { ...SETTINGS, nodes: 5 }, 1);
    assert.throws(
      () => assembly.build(),
      (error) => error instanceof ConfigError && /bistro_settings\.nodes/.test(error.message),
    );
    assembly.set('bistro_settings', SETTINGS, 1);
    assert.equal(assembly.build().jobs.size, 1);
  });
});
