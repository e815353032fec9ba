import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedSince, parseConfig } from '../../src/config/config.js';
import { ConfigAssembly } from '../../src/config/configAssembly.js';
import type { ConfigIssue } from '../../src/config/issues.js';
import { runnerModeWarnings } from '../../src/config/runnerModeWarnings.js';

const SETTINGS = {
  enabled: true,
  nodes: { levels: ['host'], node_sources: [{ source: 'manual', prefs: { node1: [] } }] },
  resources: { worker: { slots: { limit: 4, default: 1 } } },
};

function paths(issues: readonly ConfigIssue[]): string[] {
  return issues.map((issue) => issue.path.join('.'));
}

describe('runner mode warnings', () => {
  it('warns about worker resources and host placement under the local runner, and about neither remotely', () => {
    const config = parseConfig({
      bistro_settings: SETTINGS,
      'bistro_job->placed': { owner: 'o', host_placement: 'db1' },
    });
    assert.deepEqual(paths(runnerModeWarnings(config, 'local')), [
      'bistro_settings.resources.worker.slots',
      'bistro_job->placed.host_placement',
    ]);
    assert.deepEqual(runnerModeWarnings(config, 'remote'), []);
  });

  it("a shared config's job change repeats none of the settings' warnings", () => {
    const assembly = new ConfigAssembly();
    assembly.set('bistro_settings', SETTINGS, 1);
    assembly.set('bistro_job->a', { owner: 'o' }, 2);
    const before = assembly.build();
    assembly.set('bistro_job->b', { owner: 'o', host_placement: 'db1' }, 3);
    const after = assembly.build();
    const changed = changedSince(after, before);
    assert.notEqual(changed, after, 'the settings kept their object');
    assert.deepEqual(paths(runnerModeWarnings(changed, 'local', changed === after)), [
      'bistro_job->b.host_placement',
    ]);
  });
});
