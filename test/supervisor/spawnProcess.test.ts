/**
 * The addon's spawnProcess: the supervisor's only way to start a process.
 * Exit codes and signals arrive once, after the reap; fds land where asked;
 * a child that cannot exec says so on fd 3, the launcher's error pipe; the
 * clone happens off the event loop and is reported before the exit; the
 * start time it reports is the one /proc shows; a child cloned straight into
 * a cgroup v2 is in it from its first instruction, and one the kernel kills
 * inside that clone is reported as never having run.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCgroupMounts } from '../../src/supervisor/containment/mounts.js';
import { native } from '../../src/supervisor/native.js';
import { processStartTicks } from '../../src/supervisor/procStat.js';
import { isAlive, waitFor } from '../helpers/processes.js';

const ENV = ['PATH=/usr/bin:/bin'];

interface Exit {
  code: number | null;
  signal: number | null;
}

interface Started {
  pid: number;
  startTicks: number;
  exit: Promise<Exit>;
  ran: Promise<boolean>;
}

/** Starts a process; resolves once it was cloned (the clone happens on the addon's launch thread). */
function start(argv: string[], fds: number[], cgroupDir?: string): Promise<Started> {
  let resolve!: (exit: Exit) => void;
  let resolveRan!: (ran: boolean) => void;
  const exit = new Promise<Exit>((r) => (resolve = r));
  const ran = new Promise<boolean>((r) => (resolveRan = r));
  let calls = 0;
  let started = false;
  return new Promise<Started>((resolveStarted, rejectStarted) => {
    native().spawnProcess(
      argv[0]!,
      argv,
      ENV,
      fds,
      (error, pid, startTicks) => {
        if (error) return rejectStarted(error);
        started = true;
        resolveStarted({ pid, startTicks, exit, ran });
      },
      (code, signal, childRan) => {
        calls++;
        assert.equal(calls, 1, 'onExit runs once');
        assert.equal(started, true, 'onStarted runs first');
        resolveRan(childRan);
        resolve({ code, signal });
      },
      cgroupDir,
    );
  });
}

/** Reads a pipe's read end to EOF. */
function drain(fd: number): string {
  return readFileSync(fd, 'utf8');
}

describe('spawnProcess', () => {
  it('reports the exit code, after which the pid is reaped', async () => {
    const { pid, exit } = await start(['/bin/sh', '-c', 'exit 7'], [-1, -1, -1]);
    assert.ok(pid > 1);
    assert.deepEqual(await exit, { code: 7, signal: null });
    assert.equal(isAlive(pid), false, 'no zombie left');
  });

  it('reports the signal that ended the process', async () => {
    const { pid, exit } = await start(['/bin/sleep', '100'], [-1, -1, -1]);
    process.kill(pid, 'SIGKILL');
    assert.deepEqual(await exit, { code: null, signal: 9 });
  });

  it('puts each fd where asked, stdin from /dev/null, and passes env', async () => {
    const [outRead, outWrite] = native().createPipe();
    const [extraRead, extraWrite] = native().createPipe();
    const { exit } = await start(
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
    const { exit } = await start(['/nonexistent/launcher'], [-1, -1, -1, errorWrite]);
    native().closeFd(errorWrite);
    const report = drain(errorRead);
    native().closeFd(errorRead);
    const outcome = await exit;
    assert.deepEqual(outcome, { code: 127, signal: null });
    assert.match(report, /^launcher-exec 2 /);
  });

  it('clones a child straight into the cgroup v2 it is given, and refuses one that does not exist', async (t) => {
    const v2 = readCgroupMounts().v2;
    if (!v2) return t.skip('no cgroup2 hierarchy is mounted on this host');
    if (process.arch !== 'x64')
      return t.skip(`cloning into a cgroup is built for x86-64 only, not ${process.arch}`);
    const relative = `bistro-spawn-test-${process.pid}`;
    const dir = join(v2, relative);
    mkdirSync(dir);
    try {
      assert.equal(native().probeStartInCgroup(dir), 'started');
      const [outRead, outWrite] = native().createPipe();
      const { exit, ran } = await start(['/bin/cat', '/proc/self/cgroup'], [-1, outWrite, -1], dir);
      native().closeFd(outWrite);
      const membership = drain(outRead);
      native().closeFd(outRead);
      assert.deepEqual(await exit, { code: 0, signal: null });
      assert.equal(await ran, true);
      assert.match(membership, new RegExp(`^0::/${relative}$`, 'm'));
      await assert.rejects(
        start(['/bin/true'], [-1, -1, -1], join(dir, 'missing')),
        (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && error.errno === -2,
      );
      assert.equal(native().probeStartInCgroup(join(dir, 'missing')), 'error 2');
    } finally {
      rmdirSync(dir);
    }
  });

  it('reports a child killed inside the clone into a killed cgroup as never having run, as the probe foretells', async (t) => {
    const v2 = readCgroupMounts().v2;
    if (!v2) return t.skip('no cgroup2 hierarchy is mounted on this host');
    if (process.arch !== 'x64')
      return t.skip(`cloning into a cgroup is built for x86-64 only, not ${process.arch}`);
    const dir = join(v2, `bistro-spawn-killed-test-${process.pid}`);
    mkdirSync(dir);
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
      const answer = native().probeStartInCgroup(dir);
      assert.ok(answer === 'killed' || answer === 'started', answer);
      const [errRead, errWrite] = native().createPipe();
      const { exit, ran } = await start(['/bin/sh', '-c', 'echo ran >&2'], [-1, -1, errWrite], dir);
      native().closeFd(errWrite);
      const output = drain(errRead);
      native().closeFd(errRead);
      if (answer === 'killed') {
        assert.deepEqual(await exit, { code: null, signal: 9 });
        assert.equal(await ran, false, 'the kernel killed it before its first instruction');
        assert.equal(output, '');
      } else {
        assert.deepEqual(await exit, { code: 0, signal: null });
        assert.equal(await ran, true);
        assert.equal(output, 'ran\n');
      }
      const killedAfterExec = await start(['/bin/sleep', '100'], [-1, -1, -1]);
      await waitFor(() => readFileSync(`/proc/${killedAfterExec.pid}/comm`, 'utf8') === 'sleep\n');
      process.kill(killedAfterExec.pid, 'SIGKILL');
      assert.deepEqual(await killedAfterExec.exit, { code: null, signal: 9 });
      assert.equal(
        await killedAfterExec.ran,
        true,
        'a child killed after it ran is not mistaken for one that never did',
      );
    } finally {
      rmdirSync(dir);
    }
  });

  it('knows the start time of what it started as /proc/<pid>/stat shows it, or says it does not', async () => {
    const started = await Promise.all(
      Array.from({ length: 50 }, () => start(['/bin/sleep', '30'], [-1, -1, -1])),
    );
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
      () => native().spawnProcess('/bin/true', ['true'], ENV, [-1], () => undefined, undefined as never),
      TypeError,
    );
    assert.throws(
      () =>
        native().spawnProcess(
          '/bin/true',
          ['true'],
          ENV,
          Array(17).fill(-1),
          () => undefined,
          () => undefined,
        ),
      RangeError,
    );
  });
});
