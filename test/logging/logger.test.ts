/**
 * The daemon's own log on stderr, in real child processes: a line arrives
 * while the process runs on; every line logged before an exit is written;
 * and a stderr nobody reads neither stalls the event loop nor grows the
 * memory kept for its lines without bound.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { PROJECT_ROOT } from '../helpers/cli.js';

const LOGGER = join(PROJECT_ROOT, 'src', 'logging', 'logger.ts');

/** Node arguments that run `body` with `logger` (JSON lines on stderr) in scope. */
function withLogger(body: string): string[] {
  return [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    `import { createLogger } from ${JSON.stringify(LOGGER)};
     const logger = createLogger({ pretty: false, level: 'info' });
     ${body}`,
  ];
}

const started: ChildProcess[] = [];

after(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(body: string, stdio: ('pipe' | 'ignore')[]): ChildProcess {
  const child = spawn(process.execPath, withLogger(body), { cwd: PROJECT_ROOT, stdio });
  started.push(child);
  return child;
}

/** The first line `child` writes on `stream` (rejects if it exits before one). */
function firstLine(child: ChildProcess, stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}) before a whole line: ${text}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('the daemon log', () => {
  it('writes every line logged before the process exits', () => {
    const result = spawnSync(
      process.execPath,
      withLogger(`for (let i = 0; i < 5000; i++) logger.info({ i }, 'line'); process.exit(0);`),
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        timeout: 60_000,
        killSignal: 'SIGKILL',
      },
    );
    assert.equal(result.status, 0, result.stderr.slice(-2000));
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('{'));
    assert.equal(lines.length, 5000);
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { i: number }).i),
      Array.from({ length: 5000 }, (_, i) => i),
    );
  });

  it('writes a line while the process runs on', { timeout: 60_000 }, async () => {
    const child = start(`logger.info('lone'); setInterval(() => undefined, 1000);`, [
      'ignore',
      'ignore',
      'pipe',
    ]);
    const startedAt = performance.now();
    const line = await firstLine(child, child.stderr!);
    const elapsedMs = performance.now() - startedAt;
    assert.equal((JSON.parse(line) as { msg: string }).msg, 'lone');
    assert.ok(elapsedMs < 5000, `the line took ${elapsedMs} ms`);
    child.kill('SIGKILL');
    await exited(child);
  });

  it(
    'keeps the event loop running and the buffer bounded while nobody reads stderr',
    { timeout: 60_000 },
    async () => {
      // 96 MiB of lines into a pipe nobody reads: the event loop must keep ticking, and
      // the memory kept for the lines must stay near the 16 MiB bound, not grow with them.
      const child = start(
        `const big = 'x'.repeat(8192);
       let ticks = 0;
       const timer = setInterval(() => ticks++, 10);
       const baseline = process.memoryUsage().rss;
       let written = 0;
       const burst = () => {
         for (let i = 0; i < 64; i++) logger.info({ big }, 'flood');
         written += 64 * 8192;
         if (written < 96 * 1024 * 1024) setImmediate(burst);
         else setTimeout(() => {
           clearInterval(timer);
           const grownMiB = (process.memoryUsage().rss - baseline) / 1024 / 1024;
           process.stdout.write(JSON.stringify({ ticks, grownMiB }) + '\\n');
         }, 1000);
       };
       burst();`,
        ['ignore', 'pipe', 'pipe'],
      );
      // Never read: the pipe fills at its capacity and the writer blocks.
      child.stderr!.pause();
      const report = JSON.parse(await firstLine(child, child.stdout!)) as { ticks: number; grownMiB: number };
      child.kill('SIGKILL');
      await exited(child);
      // A second of 10 ms ticks after the flood (and more during it): a blocked write would give none.
      assert.ok(report.ticks >= 50, `the event loop ticked ${report.ticks} times`);
      assert.ok(
        report.grownMiB < 64,
        `the process grew by ${report.grownMiB.toFixed(1)} MiB for 96 MiB of lines`,
      );
    },
  );
});
