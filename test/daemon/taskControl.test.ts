/** Task control through the runner: an API kill of a deleted job's task uses the settings' kill request. */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort } from '../helpers/http.js';
import { isAlive, waitFor } from '../helpers/processes.js';

const daemon = new DaemonProcess();

after(async () => {
  assert.deepEqual(await daemon.cleanup(), { pids: [], cgroups: [] });
});

it("kill_task reaches a deleted job's task with the settings' kill request", async () => {
  const port = await freePort();
  const settings = {
    resources: {},
    nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs: { d1: [] } }] },
    // Orphans wait an hour: only the API kill can end the task in this test.
    kill_orphan_tasks_after_sec: 3600,
    kill_subprocess: { method: 'kill' },
  };
  daemon.writeConfig(settings, { sleeper: { config: { sleep_sec: 1000 } } });
  daemon.start(['--http-port', String(port)]);
  await waitFor(() => daemon.pids().some((p) => p.kind === 'main'), 15_000, 'the task');
  const task = daemon.pids().find((p) => p.kind === 'main')!;
  daemon.writeConfig(settings, {});
  await waitFor(
    async () => !('sleeper' in ((await call(port, 'jobs')).data as object)),
    10_000,
    'the job deleted',
  );
  assert.ok(isAlive(task.pid), 'a deleted job leaves its task running until the orphan delay');
  const killed = await call(port, 'kill_task', { job_id: 'sleeper', node_id: 'd1' });
  assert.deepEqual(killed, { data: 'sent SIGKILL' }, "the settings' request: kill");
  await waitFor(() => !isAlive(task.pid), 10_000, 'the task gone');
  await waitFor(
    async () => Object.keys((await call(port, 'running_tasks')).data as object).length === 0,
    10_000,
    'the task complete',
  );
  assert.deepEqual(await call(port, 'kill_task', { job_id: 'sleeper', node_id: 'd1' }), {
    error: 'Unknown running task sleeper, d1',
  });
});
