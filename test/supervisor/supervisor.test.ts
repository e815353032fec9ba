import assert from 'node:assert/strict';
import { taskStatusReport } from '../../src/runners/taskStatusReport.js';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StatusBits as B } from '../../src/statuses/taskStatus.js';
import { isAlive, ProcessLedger, processGroupOf, sleep, waitFor } from '../helpers/processes.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { MAX_DRAINED_LINES } from '../../src/supervisor/taskPipes.js';
import { NO_CGROUPS, Recorder, supervisedTests } from '../helpers/supervisor.js';

let ledger: ProcessLedger;
let recorder: Recorder;
supervisedTests((l, r) => ([ledger, recorder] = [l, r]));

const KILL = { method: 'kill', killWaitMs: 0 } as const;

describe('no collateral damage', () => {
  it('an unrelated process in the same session and a sibling task survive a kill', async () => {
    const unrelated = spawn('sleep', ['100'], { stdio: 'ignore' });
    ledger.track(unrelated.pid);
    const victim = recorder.sh('echo $$ >> "$1"; sleep 100 & wait', [ledger.pidFile('victim')]);
    const sibling = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile('sibling')]);
    const [siblingPid] = await ledger.pids(1, ledger.pidFile('sibling'));
    await ledger.pids(1, ledger.pidFile('victim'));
    recorder.supervisor.kill(victim.invocationId, KILL);
    await victim.done;
    assert.ok(isAlive(unrelated.pid!), 'unrelated process survives');
    assert.ok(isAlive(siblingPid!), 'sibling task survives');
    recorder.supervisor.kill(sibling.invocationId, KILL);
    await sibling.done;
    unrelated.kill('SIGKILL');
    await waitFor(() => !isAlive(unrelated.pid!), 5000, 'the unrelated process to die');
    await ledger.cleanup([ledger.pidFile('victim'), ledger.pidFile('sibling')]);
  });

  it('a kill naming an old invocation is a no-op with a clear result', async () => {
    const first = recorder.sh('exit 0');
    await first.done;
    const second = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    const [pid] = await ledger.pids(1);
    const outcome = recorder.supervisor.kill(first.invocationId, KILL);
    assert.deepEqual(outcome, {
      ok: false,
      reason: 'unknown_task',
      message: `no running task with invocation ${first.invocationId}`,
    });
    await sleep(100);
    assert.ok(isAlive(pid!));
    assert.equal(recorder.supervisor.kill(second.invocationId, KILL).ok, true);
    await second.done;
  });

  it('a task that does not lead a group is signalled by pid, never by group', async () => {
    const bystander = spawn('sleep', ['100'], { stdio: 'ignore' });
    ledger.track(bystander.pid);
    const task = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()], {
      processGroupLeader: false,
    });
    const [pid] = await ledger.pids(1);
    assert.equal(processGroupOf(pid!), processGroupOf(process.pid), 'the task stayed in our process group');
    recorder.supervisor.kill(task.invocationId, KILL);
    await task.done;
    const signals = recorder.events.filter((e) => e.event === 'signal_sent');
    assert.ok(signals.length > 0);
    assert.deepEqual(
      signals.map((e) => [e['target'], e['pid']]),
      signals.map(() => ['process', pid]),
    );
    assert.ok(isAlive(bystander.pid!), 'our own process group was not signalled');
    bystander.kill('SIGKILL');
    await waitFor(() => !isAlive(bystander.pid!), 5000, 'the bystander to die');
  });
});

describe('status rules', () => {
  const finish = async (script: string, options = {}) =>
    taskStatusReport(await recorder.sh(script, [], options).done);

  it('the last status line wins; JSON data is kept', async () => {
    assert.deepEqual(
      await finish(
        'echo error_backoff > /dev/fd/4; echo done > "$0_unused" 2>/dev/null; echo done > /dev/fd/4',
      ),
      { bits: B.DONE },
    );
    assert.deepEqual(await finish('printf \'{"result": "incomplete", "data": {"n": 1}}\' > /dev/fd/4'), {
      bits: B.INCOMPLETE,
      data: { n: 1 },
    });
  });

  it('a trailing blank line erases the status', async () => {
    const report = await finish('printf "done\\n\\n" > /dev/fd/4');
    assert.deepEqual(report, {
      bits: B.ERROR | B.USES_BACKOFF,
      data: { exception: 'Failed to read a status (exited with status 0)', exit_code: 0, signal: null },
    });
  });

  it('garbage becomes error_backoff with the raw text kept', async () => {
    const report = await finish('echo "all good!" > /dev/fd/4');
    assert.equal(report.bits, B.ERROR | B.USES_BACKOFF);
    assert.equal((report.data as { raw_status: string }).raw_status, 'all good!');
  });

  it('exited on its own without a status: error_backoff "Failed to read a status", with its exit code', async () => {
    assert.deepEqual(await finish('exit 3'), {
      bits: B.ERROR | B.USES_BACKOFF,
      data: { exception: 'Failed to read a status (exited with status 3)', exit_code: 3, signal: null },
    });
  });

  it('killed by someone else: error_backoff naming the outside signal', async () => {
    const task = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    const [pid] = await ledger.pids(1);
    process.kill(pid!, 'SIGKILL');
    const result = await task.done;
    assert.equal(result.killedFromOutside, true);
    assert.deepEqual(taskStatusReport(result), {
      bits: B.ERROR | B.USES_BACKOFF,
      data: {
        exception: 'Task was killed by an outside signal 9 (SIGKILL), not by a kill request',
        exit_code: null,
        signal: 'SIGKILL',
      },
    });
  });

  it('signalled by us without a status: incomplete_backoff', async () => {
    const task = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    await ledger.pids(1);
    recorder.supervisor.kill(task.invocationId, KILL);
    const result = await task.done;
    assert.deepEqual(taskStatusReport(result), {
      bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
      data: { exception: 'Task killed, no status returned', exit_code: null, signal: 'SIGKILL' },
    });
    assert.equal(result.killedFromOutside, false);
    assert.deepEqual(recorder.eventsOf(task.invocationId).slice(0, 3), [
      'running',
      'kill_requested',
      'signal_sent',
    ]);
    assert.ok(recorder.eventsOf(task.invocationId).includes('process_exited'));
  });

  it('a status written before the kill still wins', async () => {
    const task = recorder.sh('echo done > /dev/fd/4; echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    await ledger.pids(1);
    recorder.supervisor.kill(task.invocationId, KILL);
    assert.deepEqual(taskStatusReport(await task.done), { bits: B.DONE });
  });

  it('a kill while the launcher is being cloned is applied once it exists, term_wait_kill included', async () => {
    // Without cgroups the clone is queued at once; its pid arrives on a later turn of the loop.
    const killed = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    const outcome = recorder.supervisor.kill(killed.invocationId, KILL);
    assert.equal(outcome.ok, true);
    assert.match(outcome.ok ? outcome.message : '', /starting/);
    const result = await killed.done;
    assert.equal(result.killed, true);
    assert.equal(result.launchFailure, undefined);
    assert.notEqual(result.pid, undefined);
    assert.equal(isAlive(result.pid!), false);
    const terminated = recorder.sh('exec sleep 100');
    recorder.supervisor.kill(terminated.invocationId, { method: 'term_wait_kill', killWaitMs: 100 });
    const termResult = await terminated.done;
    assert.equal(termResult.killed, true);
    assert.ok(['SIGTERM', 'SIGKILL'].includes(termResult.exitSignal ?? ''), `${termResult.exitSignal}`);
    assert.deepEqual(
      recorder
        .eventsOf(terminated.invocationId)
        .filter((event) => ['running', 'kill_requested', 'signal_sent'].includes(event))
        .slice(0, 3),
      ['kill_requested', 'running', 'signal_sent'],
    );
  });

  it('a task given up on while its launcher is being cloned: the launcher is SIGKILLed as it appears', async () => {
    const late = recorder.sh('echo $$ >> "$1"; exec sleep 100', [ledger.pidFile()]);
    recorder.supervisor.abandon([late.invocationId], 'test gives up');
    const result = await late.done;
    assert.match(result.abandonedReason ?? '', /test gives up/);
    await waitFor(() => recorder.eventsOf(late.invocationId).includes('signal_sent'));
    const sent = recorder.events.find(
      (event) => event.invocationId === late.invocationId && event.event === 'signal_sent',
    )!;
    assert.equal(sent.signal, 'SIGKILL');
    assert.match(String(sent.reason), /given up on while it was being started/);
    await waitFor(() => !isAlive(sent.pid as number), 5000, 'the late launcher to be gone');
  });

  it('a kill request for a completed task is a no-op', async () => {
    const task = recorder.sh('exit 0');
    await task.done;
    assert.equal(recorder.supervisor.kill(task.invocationId, KILL).ok, false);
  });
});

describe('environment and priority', () => {
  it('a task gets the supervisor env, its own env over it, and the configured nice value', async () => {
    const lines: string[] = [];
    const run = (env?: NodeJS.ProcessEnv) =>
      new Supervisor({
        env: { PATH: '/usr/bin:/bin', FROM: 'supervisor' },
        taskNice: 5,
        onLog: (_id, line) => lines.push(line.text),
      }).start({
        invocationId: `env${lines.length}`,
        argv: ['/bin/sh', '-c', 'echo "$FROM $(cut -d" " -f19 /proc/$$/stat)"'],
        cwd: '/tmp',
        options: NO_CGROUPS,
        env,
      }).done;
    await run();
    await run({ PATH: '/usr/bin:/bin', FROM: 'task' });
    assert.deepEqual(lines, ['supervisor 5\n', 'task 5\n']);
  });
});

describe('launch failures', () => {
  it('missing executable, not executable, bad working directory: the status names the step and errno', async () => {
    const dir = join(ledger.dir, 'job');
    mkdirSync(dir);
    const notExecutable = join(dir, 'script.sh');
    writeFileSync(notExecutable, '#!/bin/sh\necho done > $2\n');
    chmodSync(notExecutable, 0o644);
    const cases: [string[], string, RegExp][] = [
      [['/no/such/program'], dir, /Failed to start task t\d+: exec: No such file or directory \(errno 2\)/],
      [['no-such-program-in-path'], dir, /exec: No such file or directory \(errno 2\)/],
      [[notExecutable], dir, /exec: Permission denied \(errno 13\)/],
      [['/bin/true'], join(dir, 'missing'), /chdir: No such file or directory \(errno 2\)/],
    ];
    for (const [argv, cwd, expected] of cases) {
      const result = await recorder.start({
        argv,
        cwd,
        options: NO_CGROUPS,
      }).done;
      assert.equal(taskStatusReport(result).bits, B.ERROR | B.USES_BACKOFF);
      assert.match((taskStatusReport(result).data as { exception: string }).exception, expected);
      assert.ok(result.launchFailure);
    }
  });

  it('runs a relative path from the working directory and a bare name from PATH', async () => {
    const dir = join(ledger.dir, 'job');
    mkdirSync(dir);
    writeFileSync(join(dir, 'task.sh'), '#!/bin/sh\necho done > /dev/fd/4\n');
    chmodSync(join(dir, 'task.sh'), 0o755);
    assert.deepEqual(
      taskStatusReport(await recorder.start({ argv: ['./task.sh'], cwd: dir, options: NO_CGROUPS }).done),
      { bits: B.DONE },
    );
    assert.deepEqual(
      taskStatusReport(
        await recorder.start({ argv: ['sh', '-c', 'echo done > /dev/fd/4'], cwd: dir, options: NO_CGROUPS })
          .done,
      ),
      {
        bits: B.DONE,
      },
    );
  });
});

describe('pipes and logs', () => {
  it('delivers stdout and stderr lines with their newlines; splits lines over 65000 bytes', async () => {
    const task = recorder.sh(
      'echo one; echo two >&2; head -c 70000 /dev/zero | tr "\\0" x; echo; printf tail',
    );
    await task.done;
    const lines = recorder.lines.get(task.invocationId)!;
    assert.deepEqual(
      lines.filter((l) => l.stream === 'stderr').map((l) => l.text),
      ['two\n'],
    );
    const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    assert.equal(out[0], 'one\n');
    assert.equal(out[1]!.length, 65000);
    assert.equal(out[2], `${'x'.repeat(5000)}\n`);
    assert.equal(out[3], 'tail', 'the unterminated tail is kept as is');
  });

  it('a grandchild holding stdout keeps the task incomplete', async () => {
    const task = recorder.sh('(sleep 0.7; echo late) & exit 0', [], { processGroupLeader: false });
    const started = performance.now();
    await task.done;
    assert.ok(performance.now() - started >= 600);
    assert.ok(recorder.lines.get(task.invocationId)!.some((l) => l.text === 'late\n'));
  });

  it('rate limit: 100k lines at 50 per 10 ms are paced and none is lost', async () => {
    const task = recorder.sh('seq 1 100000', [], { maxLogLinesPerPollInterval: 50, pollMs: 10 });
    const started = performance.now();
    await task.done;
    const seconds = (performance.now() - started) / 1000;
    const lines = recorder.lines.get(task.invocationId)!.map((l) => l.text);
    assert.equal(lines.length, 100000);
    for (let i = 0; i < lines.length; i++)
      if (lines[i] !== `${i + 1}\n`) assert.fail(`line ${i} is ${lines[i]}`);
    // 5000 lines/s: the whole output takes about 20 s, less a pipe's worth up front and the
    // pipe's worth left when seq exits, which is read at once (a dead task holds no slot).
    assert.ok(seconds > 10, `took ${seconds} s`);
    assert.ok(seconds < 40, `took ${seconds} s`);
  });
});

describe('a dead task', () => {
  it('frees its slot as soon as its processes are gone, even with its log pipe paused', async () => {
    // One line a second: `yes` fills the pipe at once and the quota pauses it.
    const task = recorder.sh('echo $$ >> "$1"; exec yes', [ledger.pidFile()], {
      maxLogLinesPerPollInterval: 1,
      pollMs: 1000,
    });
    await ledger.pids(1);
    await sleep(300);
    recorder.supervisor.kill(task.invocationId, KILL);
    const result = await task.done;
    const exited = recorder.events.find(
      (e) => e.invocationId === task.invocationId && e.event === 'process_exited',
    )!;
    const lag = result.endTime - exited.time;
    console.log(`# completed ${lag} ms after its process exited`);
    assert.ok(lag < 100, `completed ${lag} ms after its process exited`);
    const lines = recorder.lines.get(task.invocationId)!.length;
    assert.ok(lines > 1000, `the pipe's backlog is read (${lines} lines)`);
    const afterExit = recorder.lines.get(task.invocationId)!.filter((l) => l.time >= exited.time).length;
    assert.ok(afterExit <= MAX_DRAINED_LINES, `${afterExit} lines delivered after the exit`);
  });
});

describe('supervisor death', () => {
  it('a SIGKILLed supervisor takes its tasks with it by the parent-death signal; descendants are documented to survive', async () => {
    const script = join(ledger.dir, 'supervise.ts');
    const supervisorModule = fileURLToPath(new URL('../../src/supervisor/supervisor.ts', import.meta.url));
    const helpers = fileURLToPath(new URL('../helpers/supervisor.ts', import.meta.url));
    writeFileSync(
      script,
      `import { Supervisor } from ${JSON.stringify(supervisorModule)};
       import { NO_CGROUPS } from ${JSON.stringify(helpers)};
       const supervisor = new Supervisor();
       supervisor.start({ invocationId: 'x', argv: ['/bin/sh', '-c', 'echo $$ >> "$1"; sleep 100 & echo $! >> "$1"; wait', 'sh', ${JSON.stringify(ledger.pidFile())}], cwd: '/tmp', options: NO_CGROUPS });
       setInterval(() => {}, 1000);`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: 'ignore' });
    ledger.track(child.pid);
    const [task, descendant] = await ledger.pids(2);
    child.kill('SIGKILL');
    await waitFor(() => !isAlive(child.pid!), 5000, 'the supervisor process to die');
    await waitFor(() => !isAlive(task!), 5000, 'the task to die by its parent-death signal');
    // The parent-death signal reaches only the task's main process: its descendants live on
    // without containment (cgroups or a PID namespace catch them).
    assert.ok(isAlive(descendant!));
    process.kill(descendant!, 'SIGKILL');
    await waitFor(() => !isAlive(descendant!));
  });
});
