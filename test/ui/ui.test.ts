/**
 * The web UI in a real browser (Debian's chromium driven by playwright-core)
 * against a real scheduler. Screenshots go to test-artifacts/ui/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, launchChromium } from '../../bench/browser.js';
import { PROJECT_ROOT } from '../helpers/cli.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { freePort } from '../helpers/http.js';
import { isAlive, waitFor } from '../helpers/processes.js';

const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts', 'ui');
const missing = browserMissing();
// Under CI a missing browser is a failure, never a silent skip; elsewhere the skip says why.
if (missing !== undefined && process.env['CI']) {
  it('a browser is present when CI is set', () => assert.fail(`the web UI tests need a browser: ${missing}`));
} else if (missing !== undefined) {
  console.log(`# web UI tests skipped: ${missing}`);
}

describe('web UI', { skip: missing }, () => {
  let daemon: DaemonProcess;
  let browser: Browser;
  let page: Page;
  let port: number;
  const settings = {
    nodes: {
      levels: ['host', 'db'],
      node_sources: [{ source: 'manual', prefs: { h1: ['d1', 'd2', 'd3'] } }],
    },
    resources: {},
  };
  const jobs = {
    quick: { config: { status: 'done', sleep_sec: 0.3 } },
    long: { config: { sleep_sec: 1000, children: 1 } },
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    daemon = new DaemonProcess();
    port = await freePort();
    daemon.writeConfig(settings, jobs);
    daemon.start(['--http-port', String(port)]);
    await waitFor(() => daemon.output.includes('REST API listening'), 15_000, 'the API');
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });

  after(async () => {
    await browser?.close();
    const left = await daemon.cleanup();
    assert.deepEqual(left, { pids: [], cgroups: [] });
  });

  it("loads the jobs page, and a job's progress bar reaches done", async () => {
    await page.goto(`http://127.0.0.1:${port}/#/jobs`);
    await page.waitForSelector('[data-ready="yes"]');
    await page.waitForSelector('tr[data-job="quick"] .progress[data-done="3"]', { timeout: 20_000 });
    assert.equal(await page.locator('tr[data-job]').count(), 2);
    assert.match(
      (await page.textContent('tr[data-job="quick"] [data-testid="status-counts"]')) ?? '',
      /3 done/,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'jobs.png') });
  });

  it('the kill button kills a running task', async () => {
    await waitFor(
      () =>
        daemon.pids().filter((p) => p.tag === 'long-d1' && p.kind === 'main' && isAlive(p.pid)).length === 1,
      15_000,
    );
    const victim = daemon.pids().find((p) => p.tag === 'long-d1' && p.kind === 'main')!;
    await page.goto(`http://127.0.0.1:${port}/#/running`);
    await page.waitForSelector('button[data-kill="long/d1"]');
    await page.screenshot({ path: join(ARTIFACTS, 'running.png') });
    assert.match((await page.textContent('[data-testid="running-count"]')) ?? '', /^\d+ running$/);
    await page.fill('[data-testid="running-filter"]', 'd1');
    assert.deepEqual(
      await page.locator('tr[data-task]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-task'))),
      ['long/d1'],
    );
    await page.click('button[data-kill="long/d1"]');
    // A kill asks first: nothing is sent until it is confirmed.
    await page.waitForSelector('[data-testid="kill-confirm"]');
    assert.ok(isAlive(victim.pid), 'not killed before the confirmation');
    await page.click('button[data-confirm-kill="long/d1"]');
    await page.waitForSelector('[data-testid="kill-message"]');
    await waitFor(() => !isAlive(victim.pid), 10_000, 'the task process to be gone');
  });

  it('says an embedded scheduler has no workers, and shows the worker of each running task', async () => {
    await page.goto(`http://127.0.0.1:${port}/#/workers`);
    await page.waitForSelector('[data-testid="no-workers"]');
    await page.goto(`http://127.0.0.1:${port}/#/running`);
    await page.waitForSelector('table[data-testid="running"] th');
    assert.ok((await page.locator('table[data-testid="running"] th').allTextContents()).includes('Worker'));
  });

  it("shows a task's output in the logs view, and a job's nodes", async () => {
    await page.goto(`http://127.0.0.1:${port}/#/logs/quick/d2`);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="log"]')?.textContent?.includes('working on d2'),
      undefined,
      { timeout: 10_000 },
    );
    // Interleaved by default: output and events in order, each tagged with its invocation.
    await page.waitForSelector('[data-stream="statuses"]');
    const lines = await page
      .locator('[data-testid="log"] span')
      .evaluateAll((spans) =>
        spans.map((span) => [span.getAttribute('data-stream'), span.textContent ?? '']),
      );
    const running = lines.findIndex(([stream, text]) => stream === 'statuses' && / running: /.test(text!));
    const output = lines.findIndex(
      ([stream, text]) => stream === 'stdout' && text!.includes('working on d2'),
    );
    const got = lines.findIndex(([stream, text]) => stream === 'statuses' && / got_status: /.test(text!));
    assert.ok(running >= 0 && running < output && output < got, `in order: ${JSON.stringify(lines)}`);
    const invocation = /\[([^\]]+)\]/.exec(lines[running]![1]!)?.[1];
    assert.ok(invocation && lines[output]![1]!.includes(`[${invocation}]`), 'output carries its invocation');
    await page.screenshot({ path: join(ARTIFACTS, 'logs.png') });
    await page.click('input[data-mode="stdout"]');
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="log"] [data-stream="statuses"]').length === 0,
    );
    await page.goto(`http://127.0.0.1:${port}/#/job/quick`);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="node-count"]')?.textContent === '3 nodes',
    );
    assert.equal(await page.locator('.grid .row').count(), 3);
    // The task killed above backs off: its row says so, and until when.
    await page.goto(`http://127.0.0.1:${port}/#/job/long`);
    // The grid: one cell per node, grouped by host; hover names a cell, a click opens its panel.
    await page.waitForSelector('canvas[data-testid="node-grid"][data-rendered="3"]');
    assert.equal(await page.getAttribute('canvas[data-testid="node-grid"]', 'data-drawn'), '3');
    await page.hover('canvas[data-testid="node-grid"]', { position: { x: 144, y: 4 } });
    await page.waitForSelector('[data-testid="grid-tip"]');
    assert.match((await page.textContent('[data-testid="grid-tip"]')) ?? '', /^\s*d1: backoff\s*$/);
    await page.click('canvas[data-testid="node-grid"]', { position: { x: 144, y: 4 } });
    await page.waitForSelector('[data-testid="node-reason"]');
    assert.match(
      (await page.textContent('[data-testid="node-reason"]')) ?? '',
      /Why not running: backing off until/,
    );
    assert.match((await page.textContent('[data-testid="node-panel"]')) ?? '', /killed \(api\)/);
    assert.match((await page.textContent('[data-testid="grid-legend"]')) ?? '', /done.*running.*backoff/);
    await page.screenshot({ path: join(ARTIFACTS, 'job-grid.png') });
    await page.waitForFunction(
      () =>
        Array.prototype.some.call(document.querySelectorAll('.grid .row .reason'), (el: Element) =>
          (el.textContent ?? '').startsWith('backing off until'),
        ),
      undefined,
      { timeout: 10_000 },
    );
  });

  it('shows a broken config in a banner', async () => {
    daemon.writeRaw('{ "bistro_settings": [');
    await page.goto(`http://127.0.0.1:${port}/#/jobs`);
    await page.waitForSelector('[data-testid="config-error"]', { timeout: 10_000 });
    const text = await page.textContent('[data-testid="config-error"]');
    assert.match(text ?? '', /invalid JSON/);
    await page.screenshot({ path: join(ARTIFACTS, 'config-error.png') });
    daemon.writeConfig(settings, jobs);
  });

  it("shows an invalid job's errors as readable lines", async () => {
    daemon.writeConfig(settings, { ...jobs, broken: { priority: 'high' } });
    await page.goto(`http://127.0.0.1:${port}/#/jobs`);
    await page.waitForSelector('tr[data-job="broken"] [data-testid="job-errors"]', { timeout: 10_000 });
    await page.waitForFunction(
      () =>
        (document.querySelector('tr[data-job="broken"] [data-testid="job-errors"]')?.textContent ?? '') !==
        '',
    );
    const text = (await page.textContent('tr[data-job="broken"] [data-testid="job-errors"]')) ?? '';
    assert.match(text, /^priority: /m);
    assert.doesNotMatch(text, /key_errors|\{/);
    daemon.writeConfig(settings, jobs);
  });
});
