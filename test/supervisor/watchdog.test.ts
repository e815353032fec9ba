/**
 * The worker watchdog on its own: process groups reported on the pipe it
 * does not wait on are still killed when it fires, ended ones are not, and
 * reports never wake it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { boottimeMs } from '../../src/cluster/leaseTiming.js';
import { watchdogPath } from '../../src/supervisor/native.js';
import { Watchdog } from '../../src/supervisor/watchdog.js';
import { isAlive, processGroupOf, sleep, waitFor } from '../helpers/processes.js';

/** A `sleep` in a process group of its own, as a task is. */
function groupLeader(): ChildProcess {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  assert.ok(child.pid !== undefined);
  return child;
}

/** Voluntary context switches of `pid`: each time it blocked and was woken. */
function wakeUps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
}

describe('worker watchdog', () => {
  const started: ChildProcess[] = [];
  const watchdogs: Watchdog[] = [];
  afterEach(async () => {
    for (const watchdog of watchdogs.splice(0)) {
      const pid = watchdog.pid;
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const child of started.splice(0))
      if (child.pid !== undefined && isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
  });

  function start(): { watchdog: Watchdog; exited: Promise<number | null> } {
    // Its "worker" is a process it did not start from: firing must not touch this test.
    const worker = groupLeader();
    started.push(worker);
    let onExit: (code: number | null) => void = () => undefined;
    const exited = new Promise<number | null>((resolve) => (onExit = resolve));
    const watchdog = Watchdog.start({ workerPid: worker.pid!, onExit: (code) => onExit(code) });
    watchdogs.push(watchdog);
    return { watchdog, exited };
  }

  it('kills a process group reported after its last wake-up, at the deadline and not before', async () => {
    const { watchdog, exited } = start();
    const deadline = boottimeMs() + 800;
    await watchdog.arm(deadline);
    // Reported now, while the watchdog sleeps until the deadline: only its read before firing sees it.
    const task = groupLeader();
    started.push(task);
    assert.equal(processGroupOf(task.pid!), task.pid);
    watchdog.addProcessGroup(task.pid!);
    await sleep(300);
    assert.ok(isAlive(task.pid!), 'nothing is killed before the deadline');
    assert.equal(await exited, 1, 'the watchdog fired');
    assert.ok(boottimeMs() >= deadline, 'it fired at the deadline');
    await waitFor(() => !isAlive(task.pid!), 2000, 'the reported group to be killed');
  });

  it('leaves a process group reported ended', async () => {
    const { watchdog, exited } = start();
    const ended = groupLeader();
    const running = groupLeader();
    started.push(ended, running);
    watchdog.addProcessGroup(ended.pid!);
    watchdog.addProcessGroup(running.pid!);
    await sleep(20);
    watchdog.removeProcessGroup(ended.pid!);
    await watchdog.arm(boottimeMs() + 400);
    assert.equal(await exited, 1);
    await waitFor(() => !isAlive(running.pid!), 2000, 'the running group to be killed');
    assert.ok(isAlive(ended.pid!), 'a group reported ended is not killed');
  });

  it('kills the groups its worker reported just before dying', async () => {
    const worker = groupLeader();
    const task = groupLeader();
    started.push(worker, task);
    // The binary itself: this test plays the worker, and its death is the end of the command pipe.
    const child = spawn(watchdogPath(), ['--worker-pid', String(worker.pid), '--pgid-fd', '3'], {
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    started.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin!.write('arm 0\n');
    await sleep(100);
    // No wake-up after this report: the watchdog learns of it only as it fires.
    (child.stdio[3] as Writable).write(`pgid +${task.pid}\n`);
    await sleep(100);
    child.stdin!.end();
    assert.equal(await exited, 1, 'it fired when its worker was gone');
    await waitFor(() => !isAlive(task.pid!), 2000, 'the reported group to be killed');
    assert.ok(isAlive(worker.pid!), 'a worker that is not its parent is left alone');
  });

  it('is not woken by process-group reports', async () => {
    const { watchdog } = start();
    await watchdog.arm(boottimeMs() + 60_000);
    const pid = watchdog.pid!;
    await sleep(50);
    const before = wakeUps(pid);
    const startedAt = performance.now();
    for (let i = 0; i < 50; i++) {
      watchdog.addProcessGroup(100_000 + i);
      await sleep(2);
      watchdog.removeProcessGroup(100_000 + i);
      await sleep(2);
    }
    const after = wakeUps(pid);
    // Only its once-a-second read of the pipe, against a hundred reports (each woke it before).
    const allowed = Math.ceil((performance.now() - startedAt) / 1000) + 1;
    assert.ok(after - before <= allowed, `the watchdog woke ${after - before} times for 100 reports`);
    await watchdog.stop();
  });
});
