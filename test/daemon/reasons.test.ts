/** Why a task is not running: worked out from the last pass, shown by job_node_statuses and `bistro status JOB`. */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { runBistro } from '../helpers/cli.js';

const daemon = new DaemonProcess();

after(async () => {
  assert.deepEqual(await daemon.cleanup(), { pids: [], cgroups: [] });
});

it('names the resource, the filter, the dependency and the backoff that keep each task from starting', async () => {
  const port = await freePort();
  daemon.writeConfig(
    {
      nodes: { levels: ['host', 'db'], node_sources: [{ source: 'manual', prefs: { h1: ['d1', 'd2'] } }] },
      resources: { host: { slots: { default: 1, limit: 1 } } },
      backoff: [3600, 'repeat'],
    },
    {
      busy: { config: { sleep_sec: 1000 }, filters: { db: { blacklist: ['d2'] } } },
      after: { depends_on: ['busy'], resources: { slots: 0 } },
      crash: {
        command: ['/bin/sh', '-c', 'exit 3', 'task'],
        resources: { slots: 0 },
        filters: { db: { whitelist: ['d2'] } },
      },
    },
  );
  daemon.start(['--http-port', String(port)]);
  const reasons = async (job: string): Promise<Record<string, string | undefined>> => {
    try {
      const data = (await call(port, 'job_node_statuses', { job })).data as {
        nodes: { node: string; status: string; reason?: string }[];
      };
      return Object.fromEntries(data.nodes.map((n) => [n.node, n.reason ?? n.status]));
    } catch {
      return {};
    }
  };
  await daemon.withOutput(
    waitFor(async () => (await reasons('busy'))['d1'] === 'running', 15_000, 'busy runs on d1'),
  );
  await waitFor(
    async () => /^backing off until /.test((await reasons('crash'))['d2'] ?? ''),
    10_000,
    'crash backs off',
  );
  assert.deepEqual(await reasons('busy'), { d1: 'running', d2: "filtered out by the job's filters" });
  assert.deepEqual(await reasons('after'), {
    d1: 'dependency not done: busy',
    d2: 'dependency not done: busy',
  });
  assert.match((await reasons('crash'))['d1']!, /filtered out/);
  // A second task on h1 would need a slot the running one holds.
  daemon.writeConfig(
    {
      nodes: { levels: ['host', 'db'], node_sources: [{ source: 'manual', prefs: { h1: ['d1', 'd2'] } }] },
      resources: { host: { slots: { default: 1, limit: 1 } } },
      backoff: [3600, 'repeat'],
    },
    {
      busy: { config: { sleep_sec: 1000 } },
    },
  );
  await waitFor(
    async () => (await reasons('busy'))['d2'] === 'waiting for resource slots on h1 (needs 1, 0 free)',
    10_000,
    'the slot reason',
  );
  const cli = runBistro(['status', 'busy', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /d2\s+unstarted\s.*waiting for resource slots on h1 \(needs 1, 0 free\)/);
});
