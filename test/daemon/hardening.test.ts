/**
 * A careless operator and malicious tasks against a real `bistro scheduler`:
 * a full disk, a FIFO at the config path, NUL in node names, save_job
 * escaping its bounds, a task flooding its status pipe, and the event fields
 * the original's tools parse.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runBistro } from '../helpers/cli.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort, post } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const started: DaemonProcess[] = [];
const mounts: string[] = [];
const tempDirs: string[] = [];

// One daemon at a time: a cleanup sweeps the shared end-to-end slice.
afterEach(async () => {
  for (const daemon of started.splice(0)) assert.deepEqual(await daemon.cleanup(), { pids: [], cgroups: [] });
});

after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  for (const mount of mounts) {
    spawnSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});

async function startDaemon(
  settings: Record<string, unknown>,
  jobs: Record<string, Record<string, unknown>>,
  options: { dataDir?: string; extra?: string[] } = {},
): Promise<{ daemon: DaemonProcess; port: number }> {
  const daemon = new DaemonProcess({ dataDir: options.dataDir });
  started.push(daemon);
  const port = await freePort();
  daemon.writeConfig({ resources: {}, ...settings }, jobs);
  daemon.start(['--http-port', String(port), ...(options.extra ?? [])]);
  await waitFor(() => daemon.output.includes('REST API listening'), 15_000, 'the API');
  return { daemon, port };
}

function statusEvents(daemon: DaemonProcess, job: string): Record<string, unknown>[] {
  const db = new Database(join(daemon.dataDir, 'task_logs.sqlite'), { readonly: true });
  try {
    return (
      db.prepare('SELECT line FROM statuses WHERE job_id = ? ORDER BY time_and_count').all(job) as {
        line: string;
      }[]
    ).map((row) => JSON.parse(row.line) as Record<string, unknown>);
  } finally {
    db.close();
  }
}

const manual = (prefs: Record<string, unknown>) => ({
  nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs }] },
});

describe('hardening', () => {
  it('a full disk degrades and reports; every status is written once space returns', async () => {
    const mount = mkdtempSync(join(tmpdir(), 'bistro-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    mounts.push(mount);
    const nodes = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`n${i}`, []]));
    const { daemon, port } = await startDaemon(
      { backoff: [1, 'repeat'], ...manual(nodes) },
      { chatty: { config: { output_lines: 300, status: 'done', sleep_sec: 1 } } },
      { dataDir: join(mount, 'data') },
    );
    // Fill the disk while the tasks run and write.
    const filler = join(mount, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    await waitFor(
      async () => JSON.stringify((await call(port, 'errors')).data).includes('cannot be written'),
      20_000,
      'the store failure reported',
    );
    // The gauge drops back to 0 as soon as a retry fits (the released space reserve may make one fit):
    // look until it is seen at 1; the failure counter only grows.
    await waitFor(
      async () =>
        /bistro_store_degraded\{store="(statuses|task_logs)"\} 1/.test(
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        ),
      20_000,
      'bistro_store_degraded at 1',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /bistro_store_write_failures_total\{store="(statuses|task_logs)"\} [1-9]/);
    assert.equal(daemon.child!.exitCode, null, 'the daemon stays up');
    rmSync(filler);
    const rows = await daemon.withOutput(
      daemon.waitForStatuses(
        (found) => found.filter((row) => row.job === 'chatty' && row.bits === 4).length === 8,
        30_000,
        'every status written',
      ),
    );
    assert.equal(rows.length, 8);
    await waitFor(async () => Object.keys((await call(port, 'errors')).data as object).length === 0, 10_000);
    assert.match(daemon.output, /is written again/);

    // A start on a full disk runs and reports.
    assert.equal(await daemon.stop(), 0);
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    daemon.start(['--http-port', String(port)]);
    await daemon.withOutput(
      waitFor(() => daemon.output.includes('REST API listening'), 15_000, 'the API on a full disk'),
    );
    daemon.writeConfig(
      { resources: {}, backoff: [1, 'repeat'], ...manual(nodes) },
      {
        chatty: { config: { output_lines: 300, status: 'done', sleep_sec: 1 } },
        later: { config: { output_lines: 300, status: 'done' } },
      },
    );
    await waitFor(
      async () => JSON.stringify((await call(port, 'errors')).data).includes('cannot be written'),
      20_000,
      'the store failure reported after a start on a full disk',
    );
    assert.equal(daemon.child!.exitCode, null, 'the daemon stays up');
    rmSync(filler);
    await daemon.withOutput(
      daemon.waitForStatuses(
        (found) => found.filter((row) => row.job === 'later' && row.bits === 4).length === 8,
        30_000,
        'the new job runs once space returns',
      ),
    );
  });

  it('a FIFO at the config path is a reported error; the daemon and validate do not block', async () => {
    const { daemon, port } = await startDaemon(manual({ d1: [] }), { quick: { config: { status: 'done' } } });
    await daemon.waitForStatuses((rows) => rows.length === 1);
    rmSync(daemon.configFile);
    execFileSync('mkfifo', [daemon.configFile]);
    await waitFor(
      async () =>
        /must be a regular file, but it is a FIFO/.test(JSON.stringify((await call(port, 'errors')).data)),
      10_000,
      'the FIFO reported',
    );
    assert.ok(
      Object.keys((await call(port, 'jobs')).data as object).includes('quick'),
      'the last good config stays',
    );
    const validate = runBistro(['validate', daemon.configFile], { timeoutMs: 10_000 });
    assert.notEqual(validate.status, 0);
    assert.match(validate.stdout + validate.stderr, /must be a regular file, but it is a FIFO/);
  });

  it('NUL and control characters in node names are refused, naming the source and the name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bistro-names-'));
    try {
      const config = join(dir, 'config.json');
      writeFileSync(
        config,
        JSON.stringify({
          bistro_settings: { enabled: true, resources: {}, ...manual({ a: [], 'a\u0000b': [] }) },
        }),
      );
      const validate = runBistro(['validate', config]);
      assert.notEqual(validate.status, 0);
      assert.match(validate.stdout + validate.stderr, /control character U\+0000/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const scriptDir = mkdtempSync(join(tmpdir(), 'bistro-script-'));
    tempDirs.push(scriptDir);
    const script = join(scriptDir, 'nodes.sh');
    writeFileSync(script, "#!/bin/sh\nprintf 'a\\n'\nprintf 'a\\000b\\n'\n");
    chmodSync(script, 0o755);
    const { port } = await startDaemon(
      {
        nodes: {
          levels: ['host', 'db'],
          node_sources: [
            { source: 'manual', prefs: { h1: [] } },
            { source: 'script', prefs: { parent_level: 'host', script } },
          ],
        },
      },
      { never: { config: { status: 'done' } } },
    );
    await waitFor(
      async () =>
        /node source "script".*control character U\+0000/.test(
          Object.values((await call(port, 'errors')).data as Record<string, string>).join('\n'),
        ),
      10_000,
      'the script source failure',
    );
    assert.deepEqual((await call(port, 'running_tasks')).data, {}, 'no task ran on a bad node list');
  });

  it('save_job cannot escape cgroupfs, change containment or the command, and keeps the file mode', async () => {
    const { daemon, port } = await startDaemon(manual({ d1: [] }), { base: { enabled: false } });
    chmodSync(daemon.configFile, 0o600);
    const save = (job: Record<string, unknown>) =>
      post(port, { q: { handler: 'save_job', job_id: 'x', job } });
    const escapes = [
      { owner: 'me', task_subprocess: { cgroups: { slice: '../../../tmp/evil' } } },
      { owner: 'me', task_subprocess: { cgroups: { root: '/tmp/evil' } } },
      { owner: 'me', task_subprocess: { cgroups: { root: '/sys/fs/cgroup/../../tmp' } } },
    ];
    for (const job of escapes) {
      const answer = await save(job);
      assert.equal(answer.status, 400, JSON.stringify(job));
      assert.match(
        (answer.body as { q: { error: string } }).q.error,
        /invalid job: task_subprocess\.cgroups\.(slice|root)/,
      );
    }
    const containment = await save({ owner: 'me', task_subprocess: { cgroups: { subsystems: [] } } });
    assert.equal(containment.status, 403);
    assert.match((containment.body as { q: { error: string } }).q.error, /"task_subprocess.cgroups"/);
    const dropped = await post(port, {
      q: { handler: 'save_job', job_id: 'base', job: { owner: 'test', enabled: true } },
    });
    assert.equal(dropped.status, 403, 'dropping the command falls back to --worker-command: refused');
    assert.equal((await save({ owner: 'me', priority: -2, enabled: false })).status, 200);
    assert.equal(statSync(daemon.configFile).mode & 0o777, 0o600, 'the config keeps its mode');
    const stored = JSON.parse(readFileSync(daemon.configFile, 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(stored['bistro_job->x']!['priority'], -2, 'a negative priority is accepted');
  });

  it('save_settings on a file: refused without --api-allow-command, validated, applied at the next poll', async () => {
    const { daemon: plain, port: plainPort } = await startDaemon(
      { ...manual({ d1: [] }), enabled: false },
      { base: { config: { status: 'done' } } },
    );
    const before = readFileSync(plain.configFile, 'utf8');
    const settings = (JSON.parse(before) as { bistro_settings: Record<string, unknown> }).bistro_settings;
    const refused = await post(plainPort, { q: { handler: 'save_settings', settings } });
    assert.equal(refused.status, 403);
    assert.match((refused.body as { q: { error: string } }).q.error, /--api-allow-command/);
    assert.equal(readFileSync(plain.configFile, 'utf8'), before);
    // One daemon at a time in this file (a cleanup sweeps the shared slice).
    started.splice(started.indexOf(plain), 1);
    assert.deepEqual(await plain.cleanup(), { pids: [], cgroups: [] });

    const { daemon, port } = await startDaemon(
      { ...manual({ d1: [] }), enabled: false },
      { base: { config: { status: 'done' } } },
      {
        extra: ['--api-allow-command'],
      },
    );
    const original = readFileSync(daemon.configFile, 'utf8');
    const bad = await post(port, {
      q: { handler: 'save_settings', settings: { ...settings, idle_wait: 'often' } },
    });
    assert.equal(bad.status, 400);
    assert.match(
      (bad.body as { q: { error: string } }).q.error,
      /^Invalid config: bistro_settings\.idle_wait: /,
    );
    assert.equal(readFileSync(daemon.configFile, 'utf8'), original, 'an invalid update changes nothing');
    const good = await post(port, {
      q: { handler: 'save_settings', settings: { ...settings, enabled: true } },
    });
    assert.equal(good.status, 200, JSON.stringify(good.body));
    const stored = JSON.parse(readFileSync(daemon.configFile, 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(stored['bistro_settings']!['enabled'], true);
    assert.ok(stored['bistro_job->base'], 'the jobs are kept');
    await daemon.waitForStatuses((rows) => rows.some((row) => row.job === 'base' && row.bits === 4), 15_000);
  });

  it('a task flooding its status pipe keeps its last status and does not stall the scheduler', async () => {
    const { daemon, port } = await startDaemon(manual({ d1: [] }), {
      flood: {
        command: ['/bin/sh', '-c', 'yes done | head -c 30000000 > "$2"; sleep 1; echo done >> "$2"', 'flood'],
      },
      endless: { command: ['/bin/sh', '-c', 'exec yes done > "$2"', 'endless'] },
    });
    await waitFor(async () => Object.keys((await call(port, 'running_tasks')).data as object).length >= 1);
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      latencies.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    latencies.sort((a, b) => a - b);
    assert.ok(latencies[5]! < 100, `median /metrics latency ${latencies[5]} ms while status pipes flood`);
    await daemon.waitForStatuses((rows) => rows.some((r) => r.job === 'flood' && r.bits !== 2), 30_000);
    assert.equal(daemon.status('flood', 'd1')?.bits, 4, 'the last line written wins: done');
    const kill = await post(port, { q: { handler: 'kill_task', job_id: 'endless', node_id: 'd1' } });
    assert.match((kill.body as { q: { data: string } }).q.data, /^sent SIG/);
    await waitFor(
      async () => Object.keys((await call(port, 'running_tasks')).data as object).length === 0,
      10_000,
    );
  });

  it("events carry the original's fields; a long command is logged once; inert keys warn", async () => {
    const long = 'z'.repeat(20_000);
    const { daemon } = await startDaemon(
      {
        ...manual({ d1: [], d2: [], d3: [] }),
        task_subprocess: { refresh_resources_sec: 5, cgroups: { version: 'v2', slice: 'bistro-e2e.slice' } },
      },
      { compat: { command: ['/bin/sh', '-c', 'echo done > "$2"', long], priority: -1 } },
    );
    await daemon.waitForStatuses(
      (rows) => rows.filter((r) => r.job === 'compat' && r.bits === 4).length === 3,
    );
    await waitFor(
      () => statusEvents(daemon, 'compat').filter((e) => e['event'] === 'got_status').length === 3,
    );
    const events = statusEvents(daemon, 'compat');
    const got = events.find((e) => e['event'] === 'got_status')!;
    assert.deepEqual(got['status'], { result_bits: 4, bits: 4 });
    assert.equal(typeof got['invocation_start_time'], 'number');
    assert.equal(typeof got['invocation_rand'], 'number');
    assert.equal(typeof got['invocation_id'], 'string');
    const running = events.filter((e) => e['event'] === 'running');
    assert.equal(running.length, 3);
    assert.equal(
      running.filter((e) => Array.isArray(e['command'])).length,
      1,
      'the long command is written once',
    );
    assert.ok(running.every((e) => typeof e['command_sha256'] === 'string'));
    assert.match(daemon.output, /refresh_resources_sec\\" has no effect here/);
    assert.doesNotMatch(daemon.output, /unknown key.*refresh_resources_sec/);
  });
});
