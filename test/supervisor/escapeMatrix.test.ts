/**
 * The escape matrix (SPEC §5.7) for the strategies without containment:
 * direct (signal the main process), process group, canary. Each test reads
 * the pids the task itself reports and checks what the OS shows.
 */
import assert from 'node:assert/strict';
import { taskStatusReport } from '../../src/runners/taskStatusReport.js';
import { describe, it } from 'node:test';
import { isAlive, ProcessLedger, processGroupOf, sleep, waitFor } from '../helpers/processes.js';
import { Recorder, supervisedTests } from '../helpers/supervisor.js';

let ledger: ProcessLedger;
let recorder: Recorder;
supervisedTests((l, r) => ([ledger, recorder] = [l, r]));

const DIRECT = { processGroupLeader: false };
const KILL = { method: 'kill', killWaitMs: 0 } as const;
const TERM = { method: 'term', killWaitMs: 0 } as const;

/** Resolves to true if `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);
}

describe('shell that runs a grandchild', () => {
  const script = 'echo $$ >> "$1"; sleep 100 & echo $! >> "$1"; wait';

  it('process group: the kill reaches the grandchild', async () => {
    const task = recorder.sh(script, [ledger.pidFile()]);
    const [shell, grandchild] = await ledger.pids(2);
    assert.ok(recorder.supervisor.kill(task.invocationId, TERM).ok);
    const result = await task.done;
    assert.ok(!isAlive(shell!) && !isAlive(grandchild!));
    assert.equal(result.killed, true);
  });

  it('direct: only the shell dies; the grandchild survives and keeps the task incomplete (documented)', async () => {
    const task = recorder.sh(script, [ledger.pidFile()], DIRECT);
    const [shell, grandchild] = await ledger.pids(2);
    recorder.supervisor.kill(task.invocationId, TERM);
    await waitFor(() => !isAlive(shell!), 5000, 'shell to die');
    assert.equal(await settlesWithin(task.done, 300), false, 'the grandchild holds stdout: not complete');
    assert.ok(isAlive(grandchild!));
    process.kill(grandchild!, 'SIGKILL');
    await task.done;
  });
});

describe('background child, parent exits', () => {
  const script = 'sleep 100 & echo $! >> "$1"; exit 0';

  it('process group: what is left in the group dies with the main process', async () => {
    const task = recorder.sh(script, [ledger.pidFile()]);
    const [child] = await ledger.pids(1);
    const result = await task.done;
    // Its pipes close as it starts exiting, a moment before /proc shows it gone.
    await waitFor(() => !isAlive(child!), 2000, 'the group member to be gone');
    assert.equal(result.exitCode, 0);
    assert.ok(
      recorder.events.some((e) => e.event === 'signal_sent' && e['reason'] === 'main process exited'),
    );
  });

  it('direct and canary: the child survives, and the task is not complete while it lives', async () => {
    const task = recorder.sh(
      'sleep 100 >/dev/null 2>&1 & echo $! >> "$1"; exit 0',
      [ledger.pidFile()],
      DIRECT,
    );
    const [child] = await ledger.pids(1);
    assert.equal(await settlesWithin(task.done, 300), false, 'the canary detects the live child');
    assert.ok(isAlive(child!));
    process.kill(child!, 'SIGKILL');
    await task.done;
    await waitFor(() => !isAlive(child!), 2000, 'the killed child to be gone');
  });
});

describe('grandchild calls setsid', () => {
  const script = 'setsid sleep 100 & echo $! >> "$1"; wait';

  it('process group: the setsid grandchild escapes the group kill (documented miss), the canary detects it', async () => {
    const task = recorder.sh(script, [ledger.pidFile()]);
    const [escaped] = await ledger.pids(1);
    // The pid is recorded at the fork; the escape is done once setsid made it a group leader.
    await waitFor(() => processGroupOf(escaped!) === escaped, 5000, 'the grandchild to call setsid');
    recorder.supervisor.kill(task.invocationId, KILL);
    assert.equal(
      await settlesWithin(task.done, 500),
      false,
      'incomplete: the escaped process still holds the canary',
    );
    assert.ok(isAlive(escaped!), 'out of reach of the group kill');
    process.kill(escaped!, 'SIGKILL');
    const result = await task.done;
    assert.equal(result.killed, true);
    // The canary closes as the process exits, a moment before it is a zombie: wait for that moment.
    await waitFor(() => !isAlive(escaped!));
  });
});

describe('double fork + setsid + close all fds', () => {
  it('canary: reports a false "done" while the daemon lives on (documented)', async () => {
    const script =
      '( setsid sh -c \'echo $$ >> "$1"; exec 0<&- 1>&- 2>&- 4>&- 5>&-; exec sleep 100\' sh "$1" & ); while [ ! -s "$1" ]; do sleep 0.02; done; echo done > /dev/fd/4';
    const task = recorder.sh(script, [ledger.pidFile()]);
    const [daemon] = await ledger.pids(1);
    const result = await task.done;
    assert.deepEqual(taskStatusReport(result), { bits: 4 });
    await waitFor(() => isAlive(daemon!));
    assert.ok(isAlive(daemon!), 'the task is complete, yet its daemon lives: only containment catches this');
    process.kill(daemon!, 'SIGKILL');
    await waitFor(() => !isAlive(daemon!));
  });
});

describe('ignores SIGTERM', () => {
  const script = 'trap "" TERM; echo $$ >> "$1"; while :; do sleep 0.05; done';

  it('term leaves it running', async () => {
    const task = recorder.sh(script, [ledger.pidFile()]);
    const [shell] = await ledger.pids(1);
    recorder.supervisor.kill(task.invocationId, TERM);
    await sleep(300);
    assert.ok(isAlive(shell!));
  });

  it('term_wait_kill 1000 ms kills it no earlier than 1000 ms and well before 1500 ms', async () => {
    const task = recorder.sh(script, [ledger.pidFile()]);
    const [shell] = await ledger.pids(1);
    const started = performance.now();
    recorder.supervisor.kill(task.invocationId, { method: 'term_wait_kill', killWaitMs: 1000 });
    await task.done;
    const elapsed = performance.now() - started;
    assert.ok(!isAlive(shell!));
    assert.ok(elapsed >= 1000, `killed after ${elapsed} ms`);
    assert.ok(elapsed < 1500, `killed after ${elapsed} ms`);
  });

  it('kill is immediate; term_wait_kill with kill_wait_ms <= 0 is SIGKILL at once', async () => {
    for (const request of [KILL, { method: 'term_wait_kill', killWaitMs: 0 } as const]) {
      const pids = ledger.pidFile(`pids-${request.method}`);
      const task = recorder.sh(script, [pids]);
      const [shell] = await ledger.pids(1, pids);
      const started = performance.now();
      recorder.supervisor.kill(task.invocationId, request);
      await task.done;
      assert.ok(performance.now() - started < 500);
      assert.ok(!isAlive(shell!));
      assert.equal(
        recorder.events.filter(
          (e) =>
            e.invocationId === task.invocationId && e.event === 'signal_sent' && e['signal'] === 'SIGTERM',
        ).length,
        0,
      );
      await ledger.cleanup([pids]).then(() => (ledger = new ProcessLedger()));
    }
  });

  it('several requests coalesce: KILL beats a pending term_wait_kill, the earliest SIGKILL wins', async () => {
    const task = recorder.sh(script, [ledger.pidFile()]);
    await ledger.pids(1);
    const started = performance.now();
    recorder.supervisor.kill(task.invocationId, { method: 'term_wait_kill', killWaitMs: 5000 });
    recorder.supervisor.kill(task.invocationId, { method: 'term_wait_kill', killWaitMs: 300 });
    recorder.supervisor.kill(task.invocationId, { method: 'term_wait_kill', killWaitMs: 4000 });
    await task.done;
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 1500, `${elapsed} ms`);
    const kills = recorder.events.filter(
      (e) =>
        e.invocationId === task.invocationId &&
        e.event === 'signal_sent' &&
        e['signal'] === 'SIGKILL' &&
        e['reason'] !== 'main process exited',
    );
    assert.equal(kills.length, 1, 'one SIGKILL from the kill requests');
  });
});

describe('stopped when TERM arrives', () => {
  it('still obeys TERM (SIGCONT follows)', async () => {
    const task = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    const [pid] = await ledger.pids(1);
    process.kill(pid!, 'SIGSTOP');
    await waitFor(
      () => /\) T /.test(require_('fs').readFileSync(`/proc/${pid}/stat`, 'utf8')),
      2000,
      'stopped',
    );
    recorder.supervisor.kill(task.invocationId, TERM);
    const result = await task.done;
    assert.equal(result.exitSignal, 'SIGTERM');
  });
});

describe('start-then-kill races', () => {
  it('100 concurrent start-then-kill races leave nothing behind', async () => {
    const tasks = Array.from({ length: 100 }, () =>
      recorder.sh('echo $$ >> "$1"; sleep 100 & echo $! >> "$1"; wait', [ledger.pidFile()]),
    );
    for (const task of tasks) recorder.supervisor.kill(task.invocationId, KILL);
    const results = await Promise.all(tasks.map((t) => t.done));
    assert.equal(results.length, 100);
    assert.equal(recorder.supervisor.runningCount, 0);
    // Whatever the tasks managed to report before dying must be gone.
    await sleep(100);
    const { readFileSync, existsSync } = require_('fs');
    const file = ledger.pidFile();
    const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    assert.deepEqual(pids.filter(isAlive), []);
  });
});

import { createRequire } from 'node:module';
const require_ = createRequire(import.meta.url) as (id: 'fs') => typeof import('node:fs');
