import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import type { Settings } from '../../src/config/settings.js';
import { NodeRefresher } from '../../src/daemon/nodeRefresher.js';
import { silentLogger } from '../../src/logging/logger.js';
import { NameInterner } from '../../src/nodes/nameInterner.js';

function settingsFor(hosts: number, firstDisabled = false): Settings {
  return parseConfig({
    bistro_settings: {
      enabled: true,
      resources: {},
      nodes: {
        levels: ['host'],
        node_sources: [
          {
            source: 'manual',
            prefs: Object.fromEntries(
              Array.from({ length: hosts }, (_, i) => [
                `h${i}`,
                firstDisabled && i === 0 ? { children: [], disabled: true } : [],
              ]),
            ),
          },
        ],
      },
    },
  }).settings;
}

describe('node refresher', () => {
  it('keeps the node set in use (and what was prepared for it) when a refresh lists the same nodes', async () => {
    let settings = settingsFor(3);
    const prepared: number[] = [];
    const refresher = new NodeRefresher(() => settings, {
      instanceName: 'inst',
      names: new NameInterner(),
      updateMs: 60_000,
      retryMs: 60_000,
      logger: silentLogger(),
      prepare: (nodes) => {
        prepared.push(nodes.size);
        return Promise.resolve();
      },
    });
    try {
      await refresher.refresh();
      const first = refresher.current(settings);
      assert.ok(first);
      await refresher.refresh();
      assert.equal(refresher.current(settings), first, 'the same nodes: the same set');
      assert.deepEqual(prepared, [4]);

      settings = settingsFor(4);
      await refresher.refresh();
      const second = refresher.current(settings);
      assert.notEqual(second, first);
      assert.equal(second?.size, 5);

      settings = settingsFor(4, true);
      await refresher.refresh();
      const disabled = refresher.current(settings);
      assert.notEqual(disabled, second, 'a node disabled: a new set');
      assert.equal(disabled?.enabled[1], 0);
      assert.deepEqual(prepared, [4, 5, 5]);
    } finally {
      refresher.stop();
    }
  });
});
