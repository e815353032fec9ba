/**
 * The addon's spawnProcess: the supervisor's only way to start a process.
 * Exit codes and signals arrive once, after the reap; fds land where asked;
 * a child that cannot exec says so on fd 3, the launcher's error pipe; the
 * start time it reports is the one /proc shows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { native } from '../../src/supervisor/native.js';
import { processStartTicks } from '../../src/supervisor/procStat.js';
import { isAlive } from '../helpers/processes.js';

const ENV = ['PATH=/usr/bin:/bin'];

interface Exit {
  code: number | null;
  signal: number | null;
}

function start(argv: string[], fds: number[]): { pid: number; exit: Promise<Exit> } {
  let resolve!: (exit: Exit) => void;
  const exit = new Promise<Exit>((r) => (resolve = r));
  let calls = 0;
  const pid = native().spawnProcess(argv[0]!, argv, ENV, fds, (code, signal) => {
    calls++;
    assert.equal(calls, 1, 'onExit runs once');
    resolve({ code, signal });
  });
  return { pid, exit };
}

/** Reads a pipe's read end to EOF. */
function drain(fd: number): string {
  return readFileSync(fd, 'utf8');
}

describe('spawnProcess', () => {
  it('reports the exit code, after which the pid is reaped', async () => {
    const { pid, exit } = start(['/bin/sh', '-c', 'exit 7'], [-1, -1, -1]);
    assert.ok(pid > 1);
    assert.deepEqual(await exit, { code: 7, signal: null });
    assert.equal(isAlive(pid), false, 'no zombie left');
  });

  it('reports the signal that ended the process', async () => {
    const { pid, exit } = start(['/bin/sleep', '100'], [-1, -1, -1]);
    process.kill(pid, 'SIGKILL');
    assert.deepEqual(await exit, { code: null, signal: 9 });
  });

  it('puts each fd where asked, stdin from /dev/null, and passes env', async () => {
    const [outRead, outWrite] = native().createPipe();
    const [extraRead, extraWrite] = native().createPipe();
    const { exit } = start(
      ['/bin/sh', '-c', 'cat; echo "out $PATH"; echo extra >&4'],
      [-1, outWrite, -1, -1, extraWrite],
    );
    native().closeFd(outWrite);
    native().closeFd(extraWrite);
    assert.equal(drain(outRead), 'out /usr/bin:/bin\n');
    assert.equal(drain(extraRead), 'extra\n');
    native().closeFd(outRead);
    native().closeFd(extraRead);
    assert.deepEqual(await exit, { code: 0, signal: null });
  });

  it('a child that cannot exec exits 127 and names the failure on fd 3', async () => {
    const [errorRead, errorWrite] = native().createPipe();
    const { exit } = start(['/nonexistent/launcher'], [-1, -1, -1, errorWrite]);
    native().closeFd(errorWrite);
    const report = drain(errorRead);
    native().closeFd(errorRead);
    const outcome = await exit;
    assert.deepEqual(outcome, { code: 127, signal: null });
    assert.match(report, /^launcher-exec 2 /);
  });

  it('knows the start time of what it started as /proc/<pid>/stat shows it, or says it does not', async () => {
    const started = Array.from({ length: 50 }, () => {
      const child = start(['/bin/sleep', '30'], [-1, -1, -1]);
      return { ...child, startTicks: native().lastSpawnStartTicks() };
    });
    try {
      const known = started.filter((child) => child.startTicks >= 0);
      // The clone spans a tick boundary (10 ms) only rarely.
      assert.ok(known.length >= 40, `start time known for ${known.length} of 50`);
      for (const child of known)
        assert.equal(child.startTicks, processStartTicks(child.pid), `pid ${child.pid}`);
    } finally {
      for (const child of started) process.kill(child.pid, 'SIGKILL');
      await Promise.all(started.map((child) => child.exit));
    }
  });

  it('rejects bad arguments with a type error', () => {
    assert.throws(
      () => native().spawnProcess('/bin/true', ['true'], ENV, [-1], undefined as never),
      TypeError,
    );
    assert.throws(
      () => native().spawnProcess('/bin/true', ['true'], ENV, Array(17).fill(-1), () => undefined),
      RangeError,
    );
  });
});
