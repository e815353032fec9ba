/** `task_history` and `bistro history`: attempts with how each ended, who killed it, and its last stderr. */
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

interface Attempt {
  status: string | null;
  exit_code: number | null;
  signal: string | null;
  killed_by: string | null;
  message: string | null;
  last_stderr: string[];
  events: string[];
  duration_sec: number | null;
}

it('records every attempt of a task and renders its events as text', async () => {
  const port = await freePort();
  daemon.writeConfig(
    {
      resources: {},
      nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs: { d1: [] } }] },
    },
    {
      crash: {
        command: ['/bin/sh', '-c', 'echo "disk is full: $1" >&2; exit 3', 'task'],
        backoff: [1, 'repeat'],
      },
      sleeper: { config: { sleep_sec: 1000 } },
      once: { command: ['/bin/sh', '-c', 'exit 7', 'task'], backoff: ['fail'] },
    },
  );
  daemon.start(['--http-port', String(port)]);
  const history = async (job: string): Promise<Attempt[]> => {
    try {
      const answer = await call(port, 'task_history', { job_id: job, node_id: 'd1' });
      return (answer.data as { attempts: Attempt[] } | undefined)?.attempts ?? [];
    } catch {
      return []; // the API is not up yet
    }
  };
  await daemon.withOutput(
    waitFor(async () => (await history('crash')).filter((a) => a.status).length >= 2, 15_000, 'two attempts'),
  );
  const [first] = await history('crash');
  assert.equal(first!.status, 'error_backoff');
  assert.equal(first!.exit_code, 3);
  assert.match(first!.message ?? '', /exited with status 3/);
  assert.deepEqual(first!.last_stderr, ['disk is full: d1']);
  assert.ok(first!.duration_sec !== null && first!.duration_sec >= 0);
  assert.ok(first!.events.some((line) => /^\d{4}-\d\d-\d\dT.* running: pid \d+/.test(line)));
  assert.ok(first!.events.some((line) => / got_status: error_backoff/.test(line)));

  await waitFor(
    () => daemon.pids().some((p) => p.tag.startsWith('sleeper') && p.kind === 'main'),
    15_000,
    'sleeper',
  );
  assert.deepEqual((await call(port, 'kill_task', { job_id: 'sleeper', node_id: 'd1' })).error, undefined);
  await waitFor(async () => (await history('sleeper'))[0]?.status !== null, 10_000, 'the kill recorded');
  const [killed] = await history('sleeper');
  assert.equal(killed!.killed_by, 'api');
  assert.equal(killed!.signal, 'SIGTERM');
  assert.equal(killed!.status, 'incomplete_backoff');

  const url = `http://127.0.0.1:${port}`;
  const cli = runBistro(['history', 'crash', 'd1', '--url', url, '--events']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /START\s+DURATION\s+WORKER\s+STATUS\s+ENDED\s+KILLED BY\s+INVOCATION/);
  assert.match(cli.stdout, /error_backoff\s+exit 3/);
  assert.match(cli.stdout, /stderr: disk is full: d1/);
  assert.match(cli.stdout, /got_status: error_backoff/);
  assert.match(
    runBistro(['history', 'sleeper', 'd1', '--url', url]).stdout,
    /incomplete_backoff\s+SIGTERM\s+api/,
  );
  await waitFor(async () => (await history('once'))[0]?.status === 'failed', 10_000, 'once failed');
  const failed = runBistro(['status', 'once', '--status', 'failed', '--url', url]);
  assert.equal(failed.status, 0, failed.stderr);
  assert.match(
    failed.stdout,
    /NODE\s+STATUS\s+SINCE\s+EXIT\s+MESSAGE\s+WHY NOT RUNNING\n\s*d1\s+failed\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d\s+7\s+Failed to read a status \(exited with status 7\)\s+failed permanently/,
    'local time, the exit code and the message',
  );
  const utc = runBistro(['status', 'once', '--url', url, '--utc']);
  assert.match(utc.stdout, /d1\s+failed\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s/, '--utc: ISO 8601');
  assert.match(
    runBistro(['status', 'once', '--status', 'done', '--url', url]).stdout,
    /no node of once is done/,
  );
  const json = JSON.parse(runBistro(['status', 'once', '--json', '--url', url]).stdout) as {
    nodes: { node: string; status: string; exit_code?: number }[];
  };
  assert.deepEqual(
    json.nodes.map((n) => [n.node, n.status, n.exit_code]),
    [['d1', 'failed', 7]],
  );
  assert.equal(runBistro(['status', 'nosuch', '--url', url]).status, 1, 'an unknown job exits 1');
  const unknownJob = runBistro(['history', 'nosuch', 'd1', '--url', url]);
  assert.equal(unknownJob.status, 1);
  assert.match(unknownJob.stderr, /Unknown job nosuch/);
  const unknownNode = runBistro(['history', 'crash', 'nosuch', '--url', url]);
  assert.equal(unknownNode.status, 1);
  assert.match(unknownNode.stderr, /Unknown node nosuch/);
});
