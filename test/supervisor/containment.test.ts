/**
 * The escape matrix (SPEC §5.7) for the containment columns: cgroup v1 with
 * the freezer, cgroup v2, and a PID namespace. Real cgroups on this host;
 * a strategy the host lacks is skipped with the reason printed.
 */
import assert from 'node:assert/strict';
import { taskStatusReport } from '../../src/runners/taskStatusReport.js';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ContainmentFactory } from '../../src/supervisor/containment/containmentFactory.js';
import { findLeftoverCgroups, killLeftover } from '../../src/supervisor/containment/leftovers.js';
import { StatusBits as B } from '../../src/statuses/taskStatus.js';
import {
  leftoverTaskCgroups,
  mounts,
  removeTestSlices,
  STRATEGIES,
  TEST_SLICE,
} from '../helpers/containment.js';
import { isAlive, ProcessLedger, sleep, waitFor } from '../helpers/processes.js';
import { NO_CGROUPS, Recorder, supervisedTests } from '../helpers/supervisor.js';

let ledger: ProcessLedger;
let recorder: Recorder;
supervisedTests(
  (l, r) => ([ledger, recorder] = [l, r]),
  () => assert.deepEqual(leftoverTaskCgroups(), [], 'no task cgroup left behind'),
);
after(() => removeTestSlices());

const KILL = { method: 'kill', killWaitMs: 0 } as const;
/**
 * Appends the calling shell's pid as the host sees it: `$$` and `$!` are
 * namespace-local inside a PID namespace, while /proc here is the host's, so
 * cut's parent pid is the shell's host pid.
 */
const REPORT = 'cut -d" " -f4 /proc/self/stat >> "$1"';
/** Starts `command` in the background as a shell that first reports its own host pid. */
const bg = (command: string, prefix = '') => `${prefix}sh -c '${REPORT}; exec ${command}' sh "$1" &`;

for (const strategy of STRATEGIES) {
  describe(strategy.name, () => {
    if (strategy.missing) {
      it(`skipped: ${strategy.missing}`, (t) => {
        console.log(`# ${strategy.name} skipped: ${strategy.missing}`);
        t.skip(strategy.missing);
      });
      return;
    }
    const sh = (script: string, extra = {}) =>
      recorder.sh(script, [ledger.pidFile()], { ...strategy.options, ...extra });

    it('catches a grandchild that called setsid', async () => {
      const task = sh(`${bg('sleep 100', 'setsid ')} ${REPORT}; wait`);
      const pids = await ledger.pids(2);
      recorder.supervisor.kill(task.invocationId, KILL);
      await task.done;
      assert.deepEqual(pids.filter(isAlive), []);
    });

    it('catches a double fork + setsid + closed fds: the task completes only when empty', async () => {
      const task = sh(
        `( setsid sh -c '${REPORT}; exec 0<&- 1>&- 2>&- 4>&- 5>&-; exec sleep 100' sh "$1" & ); while [ ! -s "$1" ]; do sleep 0.02; done; echo done > /dev/fd/4`,
      );
      const [daemon] = await ledger.pids(1);
      const result = await task.done;
      assert.deepEqual(taskStatusReport(result), { bits: B.DONE });
      assert.equal(isAlive(daemon!), false, 'the canary would say done; containment made sure');
    });

    it('empties a fork storm', async () => {
      const storm = `${REPORT}; i=0; while [ $i -lt 3000 ]; do sleep 100 2>/dev/null & i=$((i+1)); done; wait`;
      const task = sh(
        storm,
        strategy.name === 'cgroup_v1_freezer'
          ? { cgroups: { ...strategy.options.cgroups!, pidsMax: 64 } }
          : {},
      );
      await ledger.pids(1);
      await sleep(300);
      const started = performance.now();
      recorder.supervisor.kill(task.invocationId, KILL);
      await task.done;
      assert.ok(performance.now() - started < 10_000);
    });

    it('kills 100 children', async () => {
      const task = sh(`i=0; while [ $i -lt 100 ]; do ${bg('sleep 100')} i=$((i+1)); done; wait`);
      const pids = await ledger.pids(100);
      recorder.supervisor.kill(task.invocationId, KILL);
      await task.done;
      assert.deepEqual(pids.filter(isAlive), []);
    });

    it('kills a stopped task, and one that ignores SIGTERM', async () => {
      const stopped = sh(`${REPORT}; exec sleep 100`);
      const [pid] = await ledger.pids(1);
      process.kill(pid!, 'SIGSTOP');
      recorder.supervisor.kill(stopped.invocationId, { method: 'term_wait_kill', killWaitMs: 200 });
      await stopped.done;
      assert.equal(isAlive(pid!), false);
    });

    if (strategy.name !== 'pid_namespace') {
      it('kills processes in sub-cgroups the task created', async () => {
        const v2 = strategy.name === 'cgroup_v2';
        const script = v2
          ? `cg=${mounts.v2}$(grep '^0::' /proc/self/cgroup | cut -d: -f3); mkdir "$cg/sub"; sh -c 'echo $$ > "$1/sub/cgroup.procs"; echo $$ >> "$2"; exec sleep 100' sh "$cg" "$1" & wait`
          : `cg=${mounts.v1.get('freezer')}$(grep ':freezer:' /proc/self/cgroup | cut -d: -f3); mkdir "$cg/sub"; sh -c 'echo $$ > "$1/sub/cgroup.procs"; echo $$ >> "$2"; exec sleep 100' sh "$cg" "$1" & wait`;
        const task = sh(script);
        const [nested] = await ledger.pids(1);
        recorder.supervisor.kill(task.invocationId, KILL);
        await task.done;
        assert.equal(isAlive(nested!), false);
      });

      it('misses a process that moves itself to another cgroup (documented)', async () => {
        const procs =
          strategy.name === 'cgroup_v2'
            ? join(mounts.v2!, 'cgroup.procs')
            : join(mounts.v1.get('freezer')!, 'cgroup.procs');
        const others =
          strategy.name === 'cgroup_v2'
            ? []
            : ['memory', 'pids', 'cpu', 'cpuacct'].map((s) => join(mounts.v1.get(s)!, 'cgroup.procs'));
        const moves = [procs, ...others].map((p) => `echo $$ > ${p}`).join('; ');
        const task = sh(
          `setsid sh -c '${moves}; ${REPORT}; exec sleep 100 >/dev/null 2>&1 4>&- 5>&-' sh "$1" & wait`,
        );
        const [moved] = await ledger.pids(1);
        recorder.supervisor.kill(task.invocationId, KILL);
        await task.done;
        assert.ok(isAlive(moved!), 'out of the task cgroup, out of reach');
        process.kill(moved!, 'SIGKILL');
        await waitFor(() => !isAlive(moved!));
      });
    } else {
      it('catches a process that moves itself to another cgroup', async () => {
        const v2 = mounts.v2 ? `echo $$ > ${join(mounts.v2, 'cgroup.procs')}; ` : '';
        const task = sh(
          `setsid sh -c '${v2}${REPORT}; exec sleep 100 >/dev/null 2>&1 4>&- 5>&-' sh "$1" & wait`,
        );
        const [moved] = await ledger.pids(1);
        recorder.supervisor.kill(task.invocationId, KILL);
        await task.done;
        await waitFor(() => !isAlive(moved!), 5000, 'the namespace to be torn down');
      });
    }

    it('leaves sibling tasks and the supervisor alone', async () => {
      const victim = sh(`${REPORT}; sleep 100 & wait`);
      const sibling = recorder.sh(`${REPORT}; exec sleep 100`, [ledger.pidFile('sibling')], strategy.options);
      const [siblingPid] = await ledger.pids(1, ledger.pidFile('sibling'));
      await ledger.pids(1);
      recorder.supervisor.kill(victim.invocationId, KILL);
      await victim.done;
      assert.ok(isAlive(siblingPid!));
      assert.ok(isAlive(process.pid));
      recorder.supervisor.kill(sibling.invocationId, KILL);
      await sibling.done;
      await ledger.cleanup([ledger.pidFile('sibling')]).then(() => (ledger = new ProcessLedger()));
    });

    it(
      'a SIGKILLed supervisor: ' +
        (strategy.name === 'pid_namespace'
          ? 'the namespace dies with it'
          : 'leftover discovery finds the task cgroup'),
      async () => {
        const script = join(ledger.dir, 'supervise.ts');
        const supervisorModule = fileURLToPath(
          new URL('../../src/supervisor/supervisor.ts', import.meta.url),
        );
        writeFileSync(
          script,
          `import { Supervisor } from ${JSON.stringify(supervisorModule)};
         const supervisor = new Supervisor();
         supervisor.start({ invocationId: 'leftover-1', argv: ['/bin/sh', '-c', ${JSON.stringify(`${REPORT}; ${bg('sleep 100')} wait`)}, 'sh', ${JSON.stringify(ledger.pidFile())}], cwd: '/tmp', options: ${JSON.stringify(strategy.options)} });
         setInterval(() => {}, 1000);`,
        );
        const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: 'ignore' });
        ledger.track(child.pid);
        const [main, descendant] = await ledger.pids(2);
        child.kill('SIGKILL');
        await waitFor(() => !isAlive(child.pid!), 5000, 'the supervisor process to die');
        await waitFor(() => !isAlive(main!), 5000, 'the main process to die by its parent-death signal');
        if (strategy.name === 'pid_namespace') {
          await waitFor(() => !isAlive(descendant!), 5000, 'the namespace to die');
          return;
        }
        assert.ok(isAlive(descendant!), 'the descendant outlives the supervisor...');
        const choice = new ContainmentFactory().choose(strategy.options);
        const leftovers = findLeftoverCgroups(choice);
        assert.deepEqual(
          leftovers.map((l) => l.invocationId),
          ['leftover-1'],
          '...but leftover discovery finds its cgroup',
        );
        assert.ok(leftovers[0]!.pids.includes(descendant!));
        await killLeftover(leftovers[0]!);
        assert.equal(isAlive(descendant!), false);
      },
    );

    if (strategy.name === 'cgroup_v1_freezer') {
      it('OOM-kills a task allocating past its memory limit, and its status says so', async () => {
        const task = recorder.supervisor.start({
          invocationId: 'oom-1',
          argv: ['python3', '-c', 'x = bytearray(256 * 1024 * 1024); print(len(x))'],
          cwd: '/tmp',
          options: strategy.options,
          limits: { memoryBytes: 64 * 1024 * 1024 },
        });
        const result = await task.done;
        assert.equal(result.exitSignal, 'SIGKILL');
        const data = taskStatusReport(result).data as {
          oom_killed: boolean;
          oom_kills: number;
          memory_limit_bytes: number;
        };
        assert.equal(data.oom_killed, true);
        assert.ok(data.oom_kills >= 1);
        assert.equal(data.memory_limit_bytes, 64 * 1024 * 1024);
        assert.ok(recorder.events.some((e) => e.event === 'oom_killed'));
      });

      it('applies cpu.shares and pids.max, and reports usage', async () => {
        const task = recorder.supervisor.start({
          invocationId: 'limits-1',
          argv: [
            '/bin/sh',
            '-c',
            `cat /sys/fs/cgroup/cpu/${TEST_SLICE}/limits-1/cpu.shares /sys/fs/cgroup/pids/${TEST_SLICE}/limits-1/pids.max; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done`,
          ],
          cwd: '/tmp',
          options: { ...strategy.options, cgroups: { ...strategy.options.cgroups!, pidsMax: 77 } },
          limits: { cpuCores: 0.5, pidsMax: 77 },
        });
        await waitFor(() => (recorder.lines.get('limits-1') ?? []).length >= 2);
        const usage = (task as unknown as { usage(): { cpuSeconds?: number; memoryBytes?: number } }).usage();
        await task.done;
        assert.deepEqual(
          recorder.lines.get('limits-1')!.map((l) => l.text),
          ['512\n', '77\n'],
        );
        assert.equal(typeof usage.cpuSeconds, 'number');
        assert.equal(typeof usage.memoryBytes, 'number');
      });
    }
  });
}

describe('choosing containment', () => {
  it('is explicit: v2, v1, none; automatic only when the key is absent', () => {
    const factory = new ContainmentFactory();
    assert.equal(factory.choose({ ...NO_CGROUPS }).kind, 'none');
    assert.equal(factory.choose(STRATEGIES[0]!.options).kind, 'v1');
    assert.equal(factory.choose(STRATEGIES[1]!.options).kind, 'v2');
    const auto = factory.choose({ ...NO_CGROUPS, cgroups: undefined });
    assert.equal(auto.kind, mounts.v2 ? 'v2' : 'none');
    assert.match(
      factory.describe({ ...NO_CGROUPS, cgroups: undefined }),
      mounts.v2 ? /^cgroup v2 at .*bistro\.slice/ : /^no cgroups/,
    );
  });

  it('a memory limit cgroup v2 cannot enforce here is enforced in cgroup v1 instead', async (t) => {
    const controllers = readFileSync(join(mounts.v2!, 'cgroup.controllers'), 'utf8');
    if (controllers.includes('memory') || !mounts.v1.has('memory')) {
      const reason = controllers.includes('memory')
        ? 'the memory controller is available in cgroup v2 here'
        : 'no cgroup v1 memory hierarchy is mounted here';
      console.log(`# skipped: ${reason}`);
      return t.skip(reason);
    }
    const out = join(ledger.dir, 'limit');
    const memoryCgroup = `${mounts.v1.get('memory')}$(grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' /proc/self/cgroup | cut -d: -f3)`;
    const task = recorder.start({
      argv: [
        '/bin/sh',
        '-c',
        `cat "${memoryCgroup}/memory.limit_in_bytes" > "$0"; echo done > /dev/fd/4`,
        out,
      ],
      cwd: '/tmp',
      options: STRATEGIES[1]!.options,
      limits: { memoryBytes: 1 << 26 },
    });
    const result = await task.done;
    assert.deepEqual(taskStatusReport(result), { bits: B.DONE });
    assert.equal(readFileSync(out, 'utf8').trim(), String(1 << 26));
  });

  it('a limit nothing can enforce is refused up front, naming the controller and the fix', () => {
    const factory = new ContainmentFactory();
    assert.match(
      factory.check({ ...NO_CGROUPS }, { memoryBytes: 1 << 26 }) ?? '',
      /a hard memory limit .* cannot be enforced: cgroups are turned off/,
    );
    assert.match(
      factory.check(
        { ...NO_CGROUPS, cgroups: { ...NO_CGROUPS.cgroups!, subsystems: ['freezer'] } },
        { pidsMax: 10 },
      ) ?? '',
      /pids_max needs the cgroup v1 "pids" controller: add "pids" to task_subprocess.cgroups.subsystems/,
    );
    assert.equal(factory.check(STRATEGIES[1]!.options, {}), undefined);
  });
});
