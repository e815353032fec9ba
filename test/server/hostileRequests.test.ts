/**
 * Hostile and careless requests against a real `bistro scheduler`: deep
 * bodies, catastrophic regexes, cross-site and rebinding requests, values
 * out of range, and a fuzzed envelope. The daemon must answer each with
 * JSON, change nothing it should not, and keep answering everyone else.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { DaemonProcess } from '../helpers/daemon.js';
import { call, freePort, post } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const TOKEN = 'hostile-token-1';
const EVIL_LINE = `${'a'.repeat(2000)}!`;
let daemon: DaemonProcess;
let port: number;

/** A raw HTTP request, so Host, Origin and Content-Type are exactly what we say. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function timedMetrics(): Promise<number> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await response.text();
  assert.equal(response.status, 200);
  return performance.now() - started;
}

before(async () => {
  daemon = new DaemonProcess();
  port = await freePort();
  const tokenFile = daemon.writeToken(TOKEN);
  daemon.writeConfig(
    {
      resources: {},
      nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs: { d1: [], d2: [] } }] },
    },
    {
      evil: { config: { output_lines: 4000, output_text: EVIL_LINE, status: 'done' } },
      keeper: { config: { status: 'done' } },
    },
  );
  daemon.start(['--http-port', String(port), '--api-token-file', tokenFile]);
  await waitFor(() => daemon.output.includes('REST API listening'), 15_000, `the API\n${daemon.output}`);
  await daemon.waitForStatuses((rows) => rows.filter((r) => r.bits === 4).length === 4, 20_000);
});

after(async () => {
  const left = await daemon.cleanup();
  assert.deepEqual(left, { pids: [], cgroups: [] });
});

describe('hostile requests', () => {
  it('a body nested 100,000 deep is a 400, and reads still answer', async () => {
    for (const deep of ['['.repeat(100_000), `{"q":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_001)}`]) {
      const answer = await post(port, deep);
      assert.equal(answer.status, 400);
      assert.match((answer.body as { error: string }).error, /nests deeper than 64 levels/);
    }
    assert.deepEqual(await call(port, 'errors'), { data: {} });
    assert.equal(typeof (await call(port, 'refresh_time')).data, 'number');
  });

  it('(a+)+$ over lines of aaaa…! answers at once, and /metrics answers meanwhile', async () => {
    const started = performance.now();
    const first = await call(port, 'task_logs', {
      log_type: 'stdout',
      regex_filter: '(a+)+$',
      jobs: ['evil'],
    });
    assert.ok(performance.now() - started < 5000, 'the query returned');
    assert.deepEqual((first.data as { lines: unknown[] }).lines, [], 'no line ends in a');
    // Page through everything with the cursor while /metrics is timed.
    const latencies: number[] = [];
    let cursor = (first.data as { next_line_id: string }).next_line_id;
    let pages = 0;
    const paging = (async () => {
      while (cursor !== '-1' && pages++ < 1000) {
        const page = await call(port, 'task_logs', {
          log_type: 'stdout',
          regex_filter: '(a+)+$',
          jobs: ['evil'],
          line_id: cursor,
        });
        assert.deepEqual((page.data as { lines: unknown[] }).lines, []);
        cursor = (page.data as { next_line_id: string }).next_line_id;
      }
    })();
    for (let i = 0; i < 10; i++) latencies.push(await timedMetrics());
    await paging;
    assert.equal(cursor, '-1', 'paging reached the end');
    latencies.sort((a, b) => a - b);
    assert.ok(latencies[5]! < 100, `median /metrics latency ${latencies[5]} ms`);
    // A pattern RE2 does not support is a 400 naming the field.
    const backreference = await post(port, {
      q: { handler: 'task_logs', log_type: 'stdout', regex_filter: '(a)\\1' },
    });
    assert.equal(backreference.status, 400);
    assert.match((backreference.body as { q: { error: string } }).q.error, /invalid "regex_filter"/);
  });

  it('cross-site and rebinding requests change nothing; same-origin JSON works', async () => {
    const before = readFileSync(daemon.configFile, 'utf8');
    const deletion = JSON.stringify({ q: { handler: 'delete_job', job_id: 'keeper' } });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const host = `127.0.0.1:${port}`;
    const json = 'application/json';
    const attempts: [Record<string, string>, number, RegExp][] = [
      [{ host, 'content-type': 'text/plain', origin: 'http://evil.example' }, 403, /cross-site/],
      [{ host, 'content-type': 'text/plain' }, 415, /must be sent as Content-Type: application\/json/],
      [{ host, 'content-type': json, origin: 'http://evil.example' }, 403, /cross-site/],
      [{ host, 'content-type': json, 'sec-fetch-site': 'cross-site' }, 403, /cross-site/],
      [{ host: `evil.example:${port}`, 'content-type': json }, 403, /does not name this server/],
    ];
    for (const [headers, status, message] of attempts) {
      const answer = await raw('POST', '/', { ...headers, ...auth }, deletion);
      assert.equal(answer.status, status, JSON.stringify(headers));
      assert.match((JSON.parse(answer.body) as { error: string }).error, message);
    }
    const reboundRead = await raw('GET', '/metrics', { host: 'evil.example' });
    assert.equal(reboundRead.status, 403);
    assert.equal(readFileSync(daemon.configFile, 'utf8'), before, 'the config is untouched');
    // The web UI's own requests: same origin, JSON.
    const ui = await raw(
      'POST',
      '/',
      { host, 'content-type': 'application/json', origin: `http://${host}`, 'sec-fetch-site': 'same-origin' },
      JSON.stringify({ q: { handler: 'jobs' } }),
    );
    assert.equal(ui.status, 200);
    const localhost = await raw(
      'POST',
      '/',
      { host: `localhost:${port}`, 'content-type': 'application/json' },
      '{}',
    );
    assert.equal(localhost.status, 200);
  });

  it('numbers out of range, unknown jobs and handlers are 4xx errors, not wraps', async () => {
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ handler: 'job_node_statuses', job: 'keeper', offset: 4294967301 }, 400, /"offset" Too big/],
      [{ handler: 'job_node_statuses', job: 'keeper', limit: -1 }, 400, /"limit" Too small/],
      [{ handler: 'job_node_statuses', job: 'keeper', limit: 1.5 }, 400, /"limit"/],
      [{ handler: 'histogram', num_samples: -3 }, 400, /"num_samples"/],
      [{ handler: 'task_logs', log_type: 'stdout', time: -1 }, 400, /"time"/],
      [{ handler: 'task_logs', log_type: 'stdout', line_id: '-5' }, 400, /"line_id"/],
      [{ handler: '__proto__' }, 400, /unknown handler: "__proto__"/],
      [{ handler: 'constructor' }, 400, /unknown handler/],
      [{ handler: 'job_node_statuses', job: 'never-was' }, 404, /Unknown job never-was/],
    ];
    for (const [query, status, message] of cases) {
      const answer = await post(port, { q: query });
      assert.equal(answer.status, status, JSON.stringify(query));
      assert.match((answer.body as { q: { error: string } }).q.error, message);
    }
    const deletion = await post(port, { q: { handler: 'delete_job', job_id: 'never-was' } }, TOKEN);
    assert.equal(deletion.status, 404);
    assert.match((deletion.body as { q: { error: string } }).q.error, /Unknown job never-was/);
    const page = await call(port, 'job_node_statuses', { job: 'keeper', offset: 1, limit: 1 });
    assert.deepEqual((page.data as { total: number }).total, 2);
  });

  it('/metrics follows --api-token-for-reads', async () => {
    const open = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(open.status, 200, 'reads are open without --api-token-for-reads');
    await open.text();
    const reads = new DaemonProcess();
    try {
      const readsPort = await freePort();
      const tokenFile = reads.writeToken(TOKEN);
      reads.writeConfig({ resources: {}, nodes: { levels: ['db'], node_sources: [] } }, {});
      reads.start(['--http-port', String(readsPort), '--api-token-file', tokenFile, '--api-token-for-reads']);
      await waitFor(() => reads.output.includes('REST API listening'), 15_000, reads.output);
      assert.equal((await fetch(`http://127.0.0.1:${readsPort}/metrics`)).status, 401);
      const withToken = await fetch(`http://127.0.0.1:${readsPort}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(withToken.status, 200);
      await withToken.text();
    } finally {
      assert.deepEqual(await reads.cleanup(), { pids: [], cgroups: [] });
    }
  });

  it('a wildcard bind without a token warns at start', async () => {
    const open = new DaemonProcess();
    try {
      open.writeConfig({ resources: {}, nodes: { levels: ['db'], node_sources: [] } }, {});
      open.start(['--http-port', String(await freePort()), '--http-address', '0.0.0.0']);
      await waitFor(() => open.output.includes('REST API listening'), 15_000, open.output);
      await waitFor(() => open.output.includes('without a token'), 5_000, open.output);
    } finally {
      assert.deepEqual(await open.cleanup(), { pids: [], cgroups: [] });
    }
  });

  it('fuzzed envelopes and handler arguments: every answer is JSON, and the daemon stays up', async () => {
    const handlers = [
      'errors',
      'refresh_time',
      'jobs',
      'sorted_node_names',
      'nodes',
      'running_tasks',
      'job_node_runtime',
      'histogram',
      'task_logs',
      'job_node_statuses',
      'forgive_jobs',
      'kill_task',
      'save_job',
      'delete_job',
      '__proto__',
      'toString',
    ];
    const value = fc.oneof(
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      fc.double(),
      fc.string(),
      fc.constantFrom('stdout', 'statuses', 'asc', 'DESC', 'keeper', 'evil', '(a+)+$', '[', '-1', '\u0000'),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }),
      fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }),
    );
    const argNames = fc.constantFrom(
      'jobs',
      'nodes',
      'fields',
      'num_samples',
      'log_type',
      'sort',
      'time',
      'line_id',
      'regex_filter',
      'columns',
      'job',
      'status',
      'regex',
      'offset',
      'limit',
      'job_id',
      'node_id',
    );
    const query = fc.oneof(
      fc
        .record({ handler: fc.constantFrom(...handlers) })
        .chain((base) =>
          fc.dictionary(argNames, value, { maxKeys: 5 }).map((args) => ({ ...args, ...base })),
        ),
      fc.jsonValue({ maxDepth: 4 }),
    );
    const envelope = fc.dictionary(fc.string({ maxLength: 8 }), query, { minKeys: 1, maxKeys: 4 });
    const jobsBefore = Object.keys((await call(port, 'jobs')).data as object).sort();
    await fc.assert(
      fc.asyncProperty(envelope, fc.boolean(), async (body, withToken) => {
        // Saving and deleting real jobs is a legitimate outcome; keep the fuzz to other names.
        for (const q of Object.values(body) as Record<string, unknown>[]) {
          if (q && typeof q === 'object' && 'job_id' in q)
            q['job_id'] = `fuzz-${JSON.stringify(q['job_id'])}`;
        }
        const answer = await post(port, body, withToken ? TOKEN : undefined);
        assert.ok(
          answer.status >= 200 && answer.status < 500,
          `HTTP ${answer.status}: ${JSON.stringify(answer.body)}`,
        );
        assert.equal(typeof answer.body, 'object');
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(await call(port, 'errors'), { data: {} });
    const jobsAfter = Object.keys((await call(port, 'jobs')).data as object).filter(
      (j) => !j.startsWith('fuzz-'),
    );
    assert.deepEqual(jobsAfter.sort(), jobsBefore);
  });
});
