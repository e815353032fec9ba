/** The REST API and the CLI client against a real `bistro scheduler` process over 127.0.0.1. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { BISTRO_BIN, runBistro } from '../helpers/cli.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort, post } from '../helpers/http.js';
import { isAlive, waitFor } from '../helpers/processes.js';

const TOKEN = 'sekrit-token-123';
let daemon: DaemonProcess;
let port: number;

before(async () => {
  daemon = new DaemonProcess();
  port = await freePort();
  const tokenFile = daemon.writeToken(TOKEN);
  daemon.writeConfig(
    {
      nodes: {
        levels: ['host', 'db'],
        node_sources: [{ source: 'manual', prefs: { h2: ['d3', 'd1'], h1: ['d2'], d1: { disabled: true } } }],
      },
      resources: { host: { host_slots: { limit: 5, default: 1, weight: 2 } } },
      backoff: [1, 'repeat'],
    },
    {
      runner: { config: { sleep_sec: 1000 } },
      finisher: { config: { status: 'done' } },
      failing: { config: { status: 'failed' } },
      broken: { priority: 'high' },
    },
  );
  daemon.start(['--http-port', String(port), '--api-token-file', tokenFile]);
  await waitFor(() => daemon.output.includes('REST API listening'), 15_000, `the API\n${daemon.output}`);
  await daemon.waitForStatuses(
    (rows) => rows.filter((r) => r.job === 'finisher' && r.bits === 4).length === 2,
    15_000,
  );
  await daemon.waitForStatuses(
    (rows) => rows.filter((r) => r.job === 'failing' && r.bits === 16).length === 2,
    15_000,
  );
});

after(async () => {
  const left = await daemon.cleanup();
  assert.deepEqual(left, { pids: [], cgroups: [] });
});

describe('REST handlers', () => {
  it('errors, refresh_time', async () => {
    assert.deepEqual(await call(port, 'errors'), { data: {} });
    const time = (await call(port, 'refresh_time')).data as number;
    assert.ok(typeof time === 'number');
  });

  it('jobs: serialized, with errors for an invalid job, filtered by name', async () => {
    const jobs = (await call(port, 'jobs')).data as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(jobs).sort(), ['broken', 'failing', 'finisher', 'runner']);
    assert.equal(jobs['runner']!['level_for_tasks'], 'db');
    assert.ok(jobs['broken']!['errors']);
    assert.deepEqual(Object.keys((await call(port, 'jobs', { jobs: ['runner', 'nope'] })).data as object), [
      'runner',
    ]);
  });

  it('sorted_node_names is sorted; nodes reports resources and disabled', async () => {
    assert.deepEqual((await call(port, 'sorted_node_names')).data, {
      instance: ['inst'],
      host: ['h1', 'h2'],
      db: ['d1', 'd2', 'd3'],
    });
    const nodes = (await call(port, 'nodes', { nodes: ['h1', 'd1'] })).data as {
      results: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(nodes.results, {
      host: { h1: { resources: { host_slots: { default: 1, limit: 5, weight: 2 } } } },
      db: { d1: { resources: {}, disabled: true } },
    });
    assert.match(
      (await call(port, 'nodes', { fields: ['colour'] })).error!,
      /nodes: "fields.0" Invalid option/,
    );
  });

  it('running_tasks and job_node_runtime', async () => {
    await waitFor(
      () => daemon.pids().filter((p) => p.tag.startsWith('runner') && isAlive(p.pid)).length === 2,
    );
    const running = (await call(port, 'running_tasks', { jobs: ['runner'] })).data as Record<
      string,
      Record<string, { start_time: number; worker_shard: string }>
    >;
    assert.deepEqual(Object.keys(running['runner']!).sort(), ['d2', 'd3']);
    assert.equal(running['runner']!['d2']!.worker_shard, 'local');
    const runtime = (await call(port, 'job_node_runtime')).data as Record<string, Record<string, number>>;
    assert.ok(runtime['runner']!['d3']! >= 0);
  });

  it('histogram with the code alphabet and samples', async () => {
    await new Promise((resolve) => setTimeout(resolve, 5200));
    const data = (await call(port, 'histogram', { jobs: ['finisher', 'broken'], num_samples: 1 })).data as {
      histograms: Record<string, Record<string, Record<string, number>>>;
      samples: Record<string, Record<string, Record<string, string[]>>>;
    };
    assert.deepEqual(Object.keys(data.histograms), ['finisher'], 'invalid jobs have no histogram');
    assert.equal(data.histograms['finisher']!['db']!['E'], 2, 'E = DONE (4)');
    assert.equal(data.histograms['finisher']!['db']!['AE'], 1, 'AE = DISABLED (256)');
    assert.equal(data.samples['finisher']!['db']!['E']!.length, 1);
  });

  it('task_logs: lines, events, paging cursor, errors', async () => {
    const page = (await call(port, 'task_logs', { log_type: 'stdout', jobs: ['finisher'], sort: 'asc' }))
      .data as { lines: unknown[][]; next_line_id: string };
    assert.deepEqual(page.lines.map((l) => l[3]).sort(), ['working on d2\n', 'working on d3\n']);
    assert.equal(page.next_line_id, '-1');
    const events = (
      await call(port, 'task_logs', {
        log_type: 'statuses',
        jobs: ['finisher'],
        nodes: ['d2'],
        regex_filter: 'got_status',
      })
    ).data as { lines: unknown[][] };
    assert.equal(events.lines.length, 1);
    assert.match((await call(port, 'task_logs', { log_type: 'nope' })).error!, /log_type/);
    assert.match(
      (await call(port, 'task_logs', { log_type: 'stdout', columns: [] })).error!,
      /Custom columns are currently not supported/,
    );
    assert.match(
      (await call(port, 'task_logs', { log_type: 'stdout', time: 1, line_id: '5' })).error!,
      /not both/,
    );
  });

  it('unknown handler, malformed bodies, unknown endpoints', async () => {
    assert.deepEqual(await call(port, 'make_coffee'), { error: 'unknown handler: "make_coffee"' });
    assert.deepEqual(await call(port, '__proto__'), { error: 'unknown handler: "__proto__"' });
    assert.deepEqual(await post(port, '{nope'), {
      status: 400,
      body: {
        error:
          'request body is not JSON: ' +
          (() => {
            try {
              JSON.parse('{nope');
            } catch (e) {
              return (e as Error).message;
            }
            return '';
          })(),
      },
    });
    assert.equal((await post(port, '[1]')).status, 400);
    const body = (await post(port, { a: 5, b: { nohandler: 1 }, prefs: {} })).body as Record<
      string,
      { error: string }
    >;
    assert.deepEqual(Object.keys(body).sort(), ['a', 'b']);
    assert.match(body['a']!.error, /must be an object/);
    const missing = await fetch(`http://127.0.0.1:${port}/nowhere`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /no such endpoint/);
  });

  it('mutations need the token: none or wrong is 401, reads stay open', async () => {
    assert.equal(
      (await post(port, { q: { handler: 'kill_task', job_id: 'runner', node_id: 'd2' } })).status,
      401,
    );
    assert.equal(
      (await post(port, { q: { handler: 'forgive_jobs', jobs: ['failing'] } }, 'wrong')).status,
      401,
    );
    assert.equal((await post(port, { q: { handler: 'jobs' } })).status, 200);
  });

  it('kill_task signals the task and says how; an unknown job or task is an error', async () => {
    const victim = daemon.pids().find((p) => p.tag === 'runner-d2' && p.kind === 'main')!;
    const killed = await call(port, 'kill_task', { job_id: 'runner', node_id: 'd2' }, TOKEN);
    assert.match(killed.data as string, /^sent SIG/, 'the answer says what was done');
    await waitFor(() => !isAlive(victim.pid));
    assert.deepEqual(await call(port, 'kill_task', { job_id: 'ghost', node_id: 'd2' }, TOKEN), {
      error: 'Unknown running task ghost, d2',
    });
    assert.deepEqual(await call(port, 'kill_task', { job_id: 'finisher', node_id: 'd2' }, TOKEN), {
      error: 'Unknown running task finisher, d2',
    });
  });

  it('forgive_jobs lets failed tasks run again; an unknown job is an error', async () => {
    const before = daemon.pids().filter((p) => p.tag.startsWith('failing')).length;
    assert.deepEqual(await call(port, 'forgive_jobs', { jobs: ['failing'] }, TOKEN), { data: 'forgiven' });
    await waitFor(
      () => daemon.pids().filter((p) => p.tag.startsWith('failing')).length > before,
      10_000,
      'failed tasks to rerun',
    );
    assert.deepEqual(await call(port, 'forgive_jobs', { jobs: ['ghost'] }, TOKEN), {
      error: 'Invalid job id: ghost',
    });
  });

  it('save_job writes the file (command refused by default), delete_job removes it', async () => {
    const refused = await call(
      port,
      'save_job',
      { job_id: 'new', job: { owner: 'me', command: ['/bin/rm', '-rf', '/'] } },
      TOKEN,
    );
    assert.match(refused.error!, /may not set, change or drop "command"/);
    assert.match(
      (await call(port, 'save_job', { job_id: 'new', job: { priority: 3 } }, TOKEN)).error!,
      /invalid job: owner: required key "owner"/,
    );
    assert.deepEqual(
      await call(
        port,
        'save_job',
        { job_id: 'new', job: { owner: 'me', enabled: false, create_time: 1 } },
        TOKEN,
      ),
      { data: 'saved' },
    );
    const file = JSON.parse(readFileSync(daemon.configFile, 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(file['bistro_job->new']!['owner'], 'me');
    assert.ok((file['bistro_job->new']!['create_time'] as number) > 1, 'the writer owns create_time');
    assert.ok(file['bistro_settings'], 'other keys are kept');
    let jobs: Record<string, unknown> = {};
    for (let i = 0; i < 50 && !('new' in jobs); i++) {
      jobs = (await call(port, 'jobs')).data as Record<string, unknown>;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok('new' in jobs, 'the next poll picked the saved job up');
    assert.deepEqual(await call(port, 'delete_job', { job_id: 'new' }, TOKEN), { data: 'deleted' });
    assert.equal('bistro_job->new' in JSON.parse(readFileSync(daemon.configFile, 'utf8')), false);
  });

  it('serves Prometheus metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(text, /bistro_tasks\{job="finisher",status="done"\} 2/);
    assert.match(text, /bistro_task_starts_total\{job="runner"\} \d+/);
    assert.match(text, /bistro_task_kills_total\{method="term",reason="api"\} 1/);
    assert.match(text, /bistro_scheduling_pass_seconds_count \d+/);
    assert.match(text, /bistro_unkillable_tasks 0/);
  });
});

describe('CLI client', () => {
  const url = () => ['--url', `http://127.0.0.1:${port}`];

  it('jobs, tasks, status, errors as tables and JSON', () => {
    const jobs = runBistro(['jobs', ...url()]);
    assert.equal(jobs.status, 0, jobs.stderr);
    assert.match(jobs.stdout, /^JOB\s+ENABLED\s+OWNER/m);
    assert.match(jobs.stdout, /^broken\s+true\s+test\s+1\s+db\s+INVALID$/m);
    const tasks = runBistro(['tasks', ...url(), '--json']);
    assert.ok('runner' in (JSON.parse(tasks.stdout) as object));
    const status = runBistro(['status', ...url(), '--job', 'finisher']);
    assert.match(status.stdout, /^finisher\s+db\s+3\s+.*done 2/m);
    const errors = runBistro(['errors', ...url()]);
    assert.equal(errors.status, 1, 'an invalid job is an error');
    assert.match(errors.stdout, /^Job broken: invalid: .*priority/m);
    const version = runBistro(['--version']);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+$/m);
    const viaEnvironment = spawnSync(process.execPath, [BISTRO_BIN, 'tasks', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, BISTRO_URL: `http://127.0.0.1:${port}` },
    });
    assert.equal(viaEnvironment.status, 0, viaEnvironment.stderr);
    assert.ok('runner' in (JSON.parse(viaEnvironment.stdout) as object), 'BISTRO_URL names the scheduler');
  });

  it('logs, kill and forgive with the token', () => {
    const logs = runBistro(['logs', ...url(), '--job', 'finisher', '--limit', '5']);
    assert.match(logs.stdout, /finisher d2 working on d2/);
    const noToken = runBistro(['kill', 'runner', 'd3', ...url()]);
    assert.equal(noToken.status, 1);
    assert.match(noToken.stderr, /HTTP 401/);
    const tokenFile = join(daemon.dir, 'token');
    const kill = runBistro(['kill', 'runner', 'd3', ...url(), '--token-file', tokenFile, '--wait']);
    assert.equal(kill.status, 0, kill.stderr);
    assert.match(kill.stdout, /runner on d3: sent SIG/);
    assert.match(kill.stdout, /runner on d3: complete/, '--wait returns once the task is complete');
    const running = JSON.parse(runBistro(['tasks', ...url(), '--json']).stdout) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(running['runner']?.['d3'], undefined);
    for (const command of ['tasks', 'status', 'logs']) {
      const unknown = runBistro([command, ...url(), '--job', 'nosuch']);
      assert.equal(unknown.status, 1, `${command} --job nosuch`);
      assert.match(unknown.stderr, /unknown job: nosuch/);
    }
    const unknownNode = runBistro(['logs', ...url(), '--node', 'nosuch']);
    assert.equal(unknownNode.status, 1, 'logs --node nosuch');
    assert.match(unknownNode.stderr, /unknown node: nosuch/);
    const named = JSON.parse(runBistro(['status', ...url(), '--job', 'finisher', '--json']).stdout) as {
      histograms: Record<string, Record<string, Record<string, number>>>;
    };
    assert.equal(named.histograms['finisher']!['db']!['done'], 2, 'status names, not codes');
    assert.match(
      runBistro(['forgive', 'failing', ...url(), '--token-file', tokenFile]).stdout,
      /failing: forgiven/,
    );
  });

  it('says clearly when the scheduler is not reachable', async () => {
    const dead = await freePort();
    const result = runBistro(['jobs', '--url', `http://127.0.0.1:${dead}`]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /cannot reach the scheduler at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});
