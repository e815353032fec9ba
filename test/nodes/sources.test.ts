import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatIssue } from '../../src/config/issues.js';
import { compileNodeSources, fetchNodes } from '../../src/nodes/fetchNodes.js';
import type { NodeSet } from '../../src/nodes/nodeSet.js';
import { config } from '../helpers/config.js';

function settingsWith(levels: string[], sources: unknown[]) {
  return config({ nodes: { levels, node_sources: sources }, resources: {} }).settings;
}

function tree(nodes: NodeSet): string[] {
  return Array.from({ length: nodes.size }, (_, i) => {
    const n = nodes.node(i);
    const parent = n.parent >= 0 ? nodes.name(n.parent) : '-';
    return `${n.name}@${n.level}<${parent}${n.enabled ? '' : ' disabled'}${n.tags && n.tags.length > 0 ? ` [${n.tags.join(',')}]` : ''}`;
  });
}

describe('node sources', () => {
  it('a refresh of many nodes gives the event loop turns while it builds (kills and queries are not held)', async () => {
    const settings = settingsWith(
      ['host', 'db'],
      [
        { source: 'range_label', prefs: { parent_level: 'instance', start: 1, end: 200, format: 'h{i}' } },
        {
          source: 'range_label',
          prefs: { parent_level: 'host', start: 1, end: 1000, format: '{parent}.d{i}' },
        },
      ],
    );
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      if (!ticking) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const nodes = await fetchNodes(settings, { instanceName: 'i' });
    ticking = false;
    assert.equal(nodes.size, 1 + 200 + 200_000);
    assert.equal(nodes.name(nodes.size - 1), 'h200.d1000');
    assert.ok(turns > 1, `the event loop ran ${turns} turn(s) during a 200,000-node refresh`);
  });

  it('always has the instance node first, even with no sources', async () => {
    const nodes = await fetchNodes(settingsWith(['a'], []), { instanceName: 'inst' });
    assert.deepEqual(tree(nodes), ['inst@0<-']);
    const empty = await fetchNodes(settingsWith(['a'], [{ source: 'empty' }]), { instanceName: 'inst' });
    assert.deepEqual(tree(empty), ['inst@0<-']);
  });

  it('manual: tree, replicas, disabled (false means enabled)', async () => {
    const settings = settingsWith(
      ['host', 'db'],
      [
        {
          source: 'manual',
          prefs: {
            h1: ['d1', 'd2'],
            h2: { children: ['d2', 'd3'] },
            h3: 'd4',
            d3: { disabled: true },
            d4: { disabled: false },
          },
        },
      ],
    );
    const nodes = await fetchNodes(settings, { instanceName: 'i' });
    assert.deepEqual(tree(nodes), [
      'i@0<-',
      'h1@1<i',
      'd1@2<h1',
      'd2@2<h1',
      'h2@1<i',
      'd2@2<h2',
      'd3@2<h2 disabled',
      'h3@1<i',
      'd4@2<h3',
    ]);
    assert.deepEqual(nodes.indicesOf('d2'), [3, 5], 'replicas share a name');
    assert.deepEqual(Array.from(nodes.atLevel(2)), [2, 3, 5, 6, 8]);
    assert.deepEqual(nodes.pathTo(6), ['i', 'h2', 'd3']);
  });

  it('manual: level overflow and missing top-level nodes are errors', async () => {
    const deep = settingsWith(['host'], [{ source: 'manual', prefs: { h1: ['d1'] } }]);
    await assert.rejects(
      fetchNodes(deep, { instanceName: 'i' }),
      /Node d1 would be at level 2 but the maximum is 1/,
    );
    const cycle = settingsWith(['host'], [{ source: 'manual', prefs: { a: ['b'], b: ['a'] } }]);
    assert.match(
      compileNodeSources(cycle).errors.map(formatIssue)[0]!,
      /node_sources\[0\]\.prefs: No top level nodes are defined/,
    );
    const empty = settingsWith(['host'], [{ source: 'manual', prefs: {} }]);
    await assert.rejects(fetchNodes(empty, { instanceName: 'i' }), /No top level nodes/);
    const bad = settingsWith(['host'], [{ source: 'manual', prefs: { a: 5 } }]);
    assert.match(compileNodeSources(bad).errors.map(formatIssue)[0]!, /prefs\.a: expected a child name/);
  });

  it('range_label: children per parent with format variables and braces', async () => {
    const settings = settingsWith(
      ['host', 'db'],
      [
        { source: 'range_label', prefs: { parent_level: 'instance', start: 1, end: 2, format: 'h{i}' } },
        {
          source: 'range_label',
          prefs: {
            parent_level: 'host',
            start: 0,
            end: 1,
            format: '{parent}.{{{i}of{end}}}',
            enabled: false,
          },
        },
        { source: 'range_label', prefs: { parent_level: 'host', start: 5, end: 4 } },
      ],
    );
    const nodes = await fetchNodes(settings, { instanceName: 'i' });
    assert.deepEqual(tree(nodes), [
      'i@0<-',
      'h1@1<i',
      'h2@1<i',
      'h1.{0of1}@2<h1 disabled',
      'h1.{1of1}@2<h1 disabled',
      'h2.{0of1}@2<h2 disabled',
      'h2.{1of1}@2<h2 disabled',
    ]);
  });

  it('range_label: errors name the prefs key', () => {
    const settings = settingsWith(
      ['host'],
      [{ source: 'range_label', prefs: { parent_level: 'host', start: 'a', format: '{x}' } }],
    );
    const errors = compileNodeSources(settings).errors.map(formatIssue);
    assert.ok(
      errors.some((e) =>
        /prefs\.parent_level: children of level "host" would be at level 2, but only 1 level/.test(e),
      ),
      errors.join('\n'),
    );
    assert.ok(errors.some((e) => /prefs\.start: expected an integer/.test(e)));
    assert.ok(errors.some((e) => /prefs\.end: required key "end" is missing/.test(e)));
    assert.ok(errors.some((e) => /prefs\.format: unknown variable \{x\}/.test(e)));
  });

  describe('script', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'bistro-script-'));
      const write = (name: string, body: string) => {
        const path = join(dir, name);
        writeFileSync(path, `#!/bin/sh\n${body}\n`);
        chmodSync(path, 0o755);
        return path;
      };
      write('children.sh', 'printf "%s.a\\n\\n%s.b\\n" "$1" "$1"');
      write('fails.sh', 'echo partial; exit 3');
      write('slow.sh', 'exec sleep 5');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('adds one child per non-empty line, run without a shell, per parent', async () => {
      const settings = settingsWith(
        ['host', 'db'],
        [
          { source: 'manual', prefs: { 'h 1': [], h2: [] } },
          { source: 'script', prefs: { parent_level: 'host', script: join(dir, 'children.sh') } },
        ],
      );
      const nodes = await fetchNodes(settings, { instanceName: 'i' });
      assert.deepEqual(tree(nodes), [
        'i@0<-',
        'h 1@1<i',
        'h2@1<i',
        'h 1.a@2<h 1',
        'h 1.b@2<h 1',
        'h2.a@2<h2',
        'h2.b@2<h2',
      ]);
    });

    it('fails the refresh with a clear error on exit status, timeout or a missing script', async () => {
      const run = (script: string, extra: Record<string, unknown> = {}) =>
        fetchNodes(
          settingsWith(
            ['host'],
            [{ source: 'script', prefs: { parent_level: 'instance', script, ...extra } }],
          ),
          {
            instanceName: 'i',
          },
        );
      await assert.rejects(
        run(join(dir, 'fails.sh')),
        /node source "script": .*fails\.sh "i": exited with status 3/,
      );
      const started = Date.now();
      await assert.rejects(run(join(dir, 'slow.sh'), { timeout_ms: 200 }), /timed out after 200 ms/);
      assert.ok(Date.now() - started < 4000, 'the timeout killed the script');
      await assert.rejects(run(join(dir, 'missing.sh')), /could not run it \(ENOENT/);
    });
  });

  it('add_time: timestamped children with tags and enabled lifetime', async () => {
    const settings = settingsWith(
      ['host', 'time'],
      [
        { source: 'manual', prefs: { h: [] } },
        {
          source: 'add_time',
          prefs: {
            parent_level: 'host',
            schedule: [
              { cron: { epoch: { period: 100 } }, lifetime: 300, enabled_lifetime: 150, tags: ['a'] },
              { cron: { epoch: [900, 800] }, lifetime: 1000, tags: ['b'] },
            ],
          },
        },
      ],
    );
    const nodes = await fetchNodes(settings, { instanceName: 'i', now: 1000 });
    assert.deepEqual(tree(nodes), [
      'i@0<-',
      'h@1<i',
      // 800 is 200 s old: past item a's enabled_lifetime, so the merged node is disabled.
      'h:800@2<h disabled [a,b]',
      'h:900@2<h [a,b]',
      'h:1000@2<h [a]',
    ]);
    const later = await fetchNodes(settings, { instanceName: 'i', now: 1060 });
    assert.deepEqual(tree(later).slice(2), [
      'h:800@2<h disabled [a,b]',
      'h:900@2<h disabled [a,b]',
      'h:1000@2<h [a]',
    ]);
  });

  it('add_time: schedule errors name the item', () => {
    const settings = settingsWith(
      ['host'],
      [
        {
          source: 'add_time',
          prefs: {
            parent_level: 'instance',
            schedule: [
              { cron: { epoch: { period: 60 } } },
              { lifetime: 5 },
              { cron: { minute: 0 }, lifetime: 5 },
              { cron: { epoch: 5, hour: 1 }, lifetime: 5 },
            ],
          },
        },
      ],
    );
    const errors = compileNodeSources(settings).errors.map(formatIssue);
    assert.ok(
      errors.some((e) => /schedule\[0\]\.lifetime: required key "lifetime" is missing/.test(e)),
      errors.join('\n'),
    );
    assert.ok(errors.some((e) => /schedule\[1\]\.cron: required key "cron" is missing/.test(e)));
    assert.ok(errors.some((e) => /schedule\[2\]\.cron: required key "dst_fixes" is missing/.test(e)));
    assert.ok(errors.some((e) => /schedule\[3\]\.cron: an epoch item takes only the key "epoch"/.test(e)));
  });
});
