import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, type Config } from '../../src/config/config.js';
import {
  WorkerPlacement,
  workerCapacity,
  type WorkerCandidate,
} from '../../src/scheduler/workerPlacement.js';
import type { RunningTask } from '../../src/statuses/runningTask.js';

function config(settings: Record<string, unknown>, job: Record<string, unknown> = {}): Config {
  return parseConfig({
    bistro_settings: {
      enabled: true,
      nodes: { levels: ['host', 'db'], node_sources: [{ source: 'manual', prefs: { h1: ['d1'] } }] },
      ...settings,
      resources: {
        worker: { slots: { limit: 2, default: 1, weight: 1 } },
        ...(settings.resources as object),
      },
    },
    'bistro_job->j': { owner: 'me', command: ['/bin/true'], ...job },
  });
}

const worker = (name: string, host = name, extra: Partial<WorkerCandidate> = {}): WorkerCandidate => ({
  name,
  host,
  incarnation: `${name}-1`,
  ...extra,
});

function running(workerShard: string, slots: number): RunningTask {
  return {
    job: 'j',
    node: `n-${workerShard}-${slots}`,
    invocationId: `i-${workerShard}-${slots}`,
    startTime: 0,
    charges: { [workerShard]: { slots } },
    backoff: { nextSec: 0, repeat: true } as unknown as RunningTask['backoff'],
    workerShard,
  };
}

const PATH = ['inst', 'h1', 'd1'];

function picks(placement: WorkerPlacement, cfg: Config, count: number): string[] {
  const job = cfg.jobs.get('j')!;
  return Array.from({ length: count }, () => placement.place(job, PATH).worker?.name ?? '-');
}

describe('worker placement', () => {
  it('roundrobin walks the workers from after the last pick and skips full ones', () => {
    const cfg = config({});
    const placement = new WorkerPlacement(
      cfg.settings,
      [worker('w1'), worker('w2'), worker('w3')],
      [running('w2', 2)],
      'w1',
    );
    assert.deepEqual(picks(placement, cfg, 5), ['w3', 'w1', 'w3', 'w1', '-']);
    assert.equal(placement.cursor, 'w1');
  });

  it('busiest fills the worker with the least weighted room left that still fits', () => {
    const cfg = config({
      remote_worker_selector: 'busiest',
      resources: { worker: { slots: { limit: 3, default: 1, weight: 1 } } },
    });
    const placement = new WorkerPlacement(
      cfg.settings,
      [worker('w1'), worker('w2')],
      [running('w2', 1)],
      undefined,
    );
    assert.deepEqual(picks(placement, cfg, 6), ['w2', 'w2', 'w1', 'w1', 'w1', '-']);
  });

  it('derives capacity from reported RAM and CPU, then applies overrides by host, then by name', () => {
    const cfg = config({
      resources: {
        worker: {
          slots: { limit: 2, default: 1 },
          ram_gb: { limit: 100, default: 1 },
          cores: { limit: 64, default: 1 },
        },
      },
      physical_resources: {
        ram_mb: { logical_resource: 'ram_gb', multiply_logical_by: 2, physical_reserve_amount: 1 },
        cpu_core: { logical_resource: 'cores' },
      },
      worker_resources_override: { hostB: { slots: 7 }, w3: { slots: 9 } },
    });
    const resources = cfg.settings.resources.filter((r) => r.levelId === cfg.settings.levels.length - 1);
    const capacity = (w: WorkerCandidate) => workerCapacity(cfg.settings, resources, w);
    assert.deepEqual(capacity(worker('w1', 'hostA', { ramMb: 10, cpuCores: 3.5 })), {
      slots: 2,
      ram_gb: 4,
      cores: 3,
    });
    assert.deepEqual(capacity(worker('w2', 'hostB', { ramMb: 8 })), { slots: 7, ram_gb: 3, cores: 64 });
    assert.deepEqual(capacity(worker('w3', 'hostC', { ramMb: 5, cpuCores: 0 })), {
      slots: 9,
      ram_gb: 2,
      cores: 64,
    });
  });

  it('keeps a task on its host (level_for_host_placement, host_placement) and applies filters.worker to host names', () => {
    const byLevel = config({}, { level_for_host_placement: 'host' });
    const workers = [worker('a', 'h0'), worker('b', 'h1'), worker('c', 'h1')];
    const onHost = new WorkerPlacement(byLevel.settings, workers, [], undefined);
    assert.deepEqual(picks(onHost, byLevel, 3), ['b', 'c', 'b']);
    const fixed = config({}, { host_placement: 'h9' });
    const nowhere = new WorkerPlacement(fixed.settings, workers, [], undefined).place(
      fixed.jobs.get('j')!,
      PATH,
    );
    assert.deepEqual(nowhere, { outcome: 'no_fit', reason: 'no healthy worker on host h9 (host placement)' });
    const filtered = config({}, { filters: { worker: { blacklist: ['h1'] } } });
    assert.deepEqual(picks(new WorkerPlacement(filtered.settings, workers, [], undefined), filtered, 3), [
      'a',
      'a',
      '-',
    ]);
  });

  it('with no worker, nothing can run', () => {
    const cfg = config({});
    const result = new WorkerPlacement(cfg.settings, [], [], undefined).place(cfg.jobs.get('j')!, PATH);
    assert.equal(result.worker, undefined);
    assert.equal((result as { outcome: string }).outcome, 'no_worker');
  });
});
