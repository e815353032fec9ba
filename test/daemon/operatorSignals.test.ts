/** What the daemon tells an operator: lifecycle log lines, invalid jobs named at load, and metrics. */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const daemon = new DaemonProcess();

after(async () => {
  assert.deepEqual(await daemon.cleanup(), { pids: [], cgroups: [] });
});

/** The daemon's JSON log lines with this message. */
function logLines(message: string): Record<string, unknown>[] {
  return daemon.output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line['msg'] === message);
}

it('logs each task start and finish (exit code, duration, who killed it), names invalid jobs, and counts it all', async () => {
  const port = await freePort();
  daemon.writeConfig(
    { resources: {}, nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs: { d1: [] } }] } },
    {
      ok: { config: { status: 'done' } },
      crash: { command: ['/bin/sh', '-c', 'exit 3', 'crash'] },
      sleeper: { config: { sleep_sec: 1000 } },
      bad: { priority: 'high' },
    },
  );
  daemon.start(['--http-port', String(port)]);
  await daemon.waitForStatuses((rows) => rows.some((r) => r.job === 'ok' && r.bits === 4));
  await waitFor(
    () => logLines('task finished').some((line) => line['job'] === 'crash'),
    10_000,
    'crash finished',
  );
  await waitFor(
    () => logLines('task started').some((line) => line['job'] === 'sleeper'),
    10_000,
    'sleeper started',
  );
  assert.match((await call(port, 'kill_task', { job_id: 'sleeper', node_id: 'd1' })).data as string, /^sent/);
  await waitFor(
    () => logLines('task finished').some((line) => line['job'] === 'sleeper'),
    10_000,
    'sleeper finished',
  );

  const started = logLines('task started');
  assert.ok(started.every((line) => typeof line['pid'] === 'number' && line['node'] === 'd1'));
  const finished = new Map(logLines('task finished').map((line) => [line['job'] as string, line]));
  assert.equal(finished.get('ok')!['status'], 'done');
  assert.equal(finished.get('ok')!['exit_code'], 0);
  assert.equal(finished.get('crash')!['status'], 'error_backoff');
  assert.equal(finished.get('crash')!['exit_code'], 3);
  assert.equal(typeof finished.get('crash')!['duration_ms'], 'number');
  assert.equal(finished.get('sleeper')!['killed_by'], 'api');
  assert.equal(finished.get('sleeper')!['status'], 'incomplete_backoff');

  const loaded = logLines('config loaded; 1 invalid job(s) will not run');
  assert.deepEqual(loaded[0]!['invalid'], ['bad']);
  const invalid = logLines('invalid job');
  assert.equal(invalid[0]!['job'], 'bad');
  assert.match(JSON.stringify(invalid[0]!['errors']), /priority/);

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /bistro_task_finishes_total\{job="ok",status="done"\} 1/);
  assert.match(metrics, /bistro_task_finishes_total\{job="crash",status="error_backoff"\} [1-9]/);
  assert.match(metrics, /bistro_task_duration_seconds_count\{job="ok"\} 1/);
  assert.match(metrics, /bistro_config_reloads_total\{result="success"\} [1-9]/);
  assert.match(metrics, /bistro_config_last_reload_success_timestamp_seconds \d/);
  assert.match(metrics, /bistro_build_info\{version="\d+\.\d+\.\d+",node="v\d+/);
  assert.match(metrics, /process_cpu_seconds_total \d/);
});
