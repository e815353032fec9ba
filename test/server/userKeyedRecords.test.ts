/**
 * Names that are also Object.prototype's (`__proto__`, `constructor`,
 * `toString`) are valid job and node names, and a config may misspell a
 * level or resource as one: a real `bistro scheduler` must answer about
 * them like about any other name, and record their config errors, without
 * touching the prototype of anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort } from '../helpers/http.js';
import { isAlive, waitFor } from '../helpers/processes.js';

let daemon: DaemonProcess;
let port: number;

/** An object literal with an own `__proto__` key (a plain literal would set the prototype instead). */
function withProtoKey<T>(value: T, rest: Record<string, T> = {}): Record<string, T> {
  return { ['__proto__']: value, ...rest };
}

before(async () => {
  daemon = new DaemonProcess();
  port = await freePort();
  daemon.writeConfig(
    {
      resources: { db: { slots: { limit: 2, default: 1 } } },
      nodes: {
        levels: ['db'],
        node_sources: [{ source: 'manual', prefs: { constructor: [], toString: [], d1: [] } }],
      },
    },
    {
      ['__proto__']: { config: { sleep_sec: 1000 } },
      constructor: { config: { status: 'done' } },
      misnamed: {
        filters: withProtoKey({ whitelist: ['d1'] }),
        resources: withProtoKey(1, { constructor: 1 }),
      },
    },
  );
  daemon.start(['--http-port', String(port)]);
  await waitFor(() => daemon.output.includes('REST API listening'), 15_000, `the API\n${daemon.output}`);
  await waitFor(
    () => daemon.pids().filter((p) => p.tag.startsWith('__proto__') && isAlive(p.pid)).length === 3,
    15_000,
    `three __proto__ tasks running\n${daemon.output}`,
  );
});

after(async () => {
  const left = await daemon.cleanup();
  assert.deepEqual(left, { pids: [], cgroups: [] });
});

describe('names that are also the prototype’s', () => {
  it('running_tasks and job_node_runtime list them as own keys', async () => {
    const running = (await call(port, 'running_tasks', { jobs: ['__proto__'] })).data as Record<
      string,
      Record<string, { worker_shard: string }>
    >;
    assert.deepEqual(Object.keys(running), ['__proto__']);
    const byNode = running['__proto__']!;
    assert.ok(Object.hasOwn(running, '__proto__'));
    assert.deepEqual(Object.keys(byNode).sort(), ['constructor', 'd1', 'toString']);
    assert.ok(Object.hasOwn(byNode, 'constructor'));
    assert.equal(byNode['d1']!.worker_shard, 'local');
    const runtime = (await call(port, 'job_node_runtime')).data as Record<string, Record<string, number>>;
    assert.deepEqual(Object.keys(runtime), ['__proto__']);
    assert.deepEqual(Object.keys(runtime['__proto__']!).sort(), ['constructor', 'd1', 'toString']);
  });

  it('nodes answers for nodes named constructor and toString', async () => {
    const nodes = (await call(port, 'nodes')).data as { results: Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.keys(nodes.results['db']!).sort(), ['constructor', 'd1', 'toString']);
    assert.deepEqual(nodes.results['db']!['constructor'], { resources: { slots: { default: 1, limit: 2 } } });
  });

  it('a level or resource misnamed as one is an error the job keeps, field by field', async () => {
    const jobs = (await call(port, 'jobs', { jobs: ['misnamed'] })).data as Record<
      string,
      { errors?: { nested?: Record<string, { nested?: Record<string, { error?: string }> }> } }
    >;
    const nested = jobs['misnamed']!.errors!.nested!;
    assert.ok(Object.hasOwn(nested['filters']!.nested!, '__proto__'));
    assert.match(nested['filters']!.nested!['__proto__']!.error!, /unknown level "__proto__"/);
    assert.match(nested['resources']!.nested!['__proto__']!.error!, /unknown resource/);
    assert.match(nested['resources']!.nested!['constructor']!.error!, /unknown resource/);
  });
});
