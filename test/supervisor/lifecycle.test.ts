/** The pure pieces of a task's lifecycle: launcher arguments, completion as facts, launch plans. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_CGROUP_OPTIONS,
  DEFAULT_TASK_SUBPROCESS,
  TASK_SUBPROCESS_WITHOUT_CGROUPS,
} from '../../src/config/taskSubprocess.js';
import { ContainmentFactory } from '../../src/supervisor/containment/containmentFactory.js';
import { launcherInvocation, parseLauncherFailure } from '../../src/supervisor/launcherArguments.js';
import { compileLaunchPlan } from '../../src/supervisor/launchPlan.js';
import { TaskCompletion } from '../../src/supervisor/taskCompletion.js';

const PIPES = { stdout: [10, 11], stderr: [12, 13], launcher: [14, 15], status: [16, 17] } as const;
const KILL = { method: 'term_wait_kill', killWaitMs: 5000 } as const;

describe('launcher arguments', () => {
  it('follow the options, in the launcher order', () => {
    const plain = launcherInvocation(
      ['/bin/task', 'n1'],
      '/w',
      TASK_SUBPROCESS_WITHOUT_CGROUPS,
      PIPES,
      [],
      42,
    );
    assert.deepEqual(plain.args, [
      '--keep-fd',
      '4',
      '--cwd',
      '/w',
      '--setpgid',
      '--pdeathsig',
      '9',
      '--parent-pid',
      '42',
      '--',
      '/bin/task',
      'n1',
    ]);
    assert.deepEqual(plain.childFds, [-1, 11, 13, 15, 17]);
    const full = launcherInvocation(
      ['t'],
      '/w',
      { ...DEFAULT_TASK_SUBPROCESS, processGroupLeader: false, parentDeathSignal: 0, pidNamespace: true },
      { ...PIPES, canary: [18, 19] },
      ['/sys/fs/cgroup/x/cgroup.procs'],
      42,
      7,
    );
    assert.deepEqual(full.args, [
      '--keep-fd',
      '4',
      '--cwd',
      '/w',
      '--nice',
      '7',
      '--keep-fd',
      '5',
      '--cgroup-procs',
      '/sys/fs/cgroup/x/cgroup.procs',
      '--pid-namespace',
      '--',
      't',
    ]);
    assert.deepEqual(full.childFds, [-1, 11, 13, 15, 17, 19]);
  });

  it("parse the launcher's failure report", () => {
    assert.deepEqual(parseLauncherFailure('exec 2 No such file or directory\n'), {
      step: 'exec',
      errno: 2,
      message: 'No such file or directory',
    });
    assert.equal(parseLauncherFailure('init 1234\n'), undefined);
    assert.deepEqual(parseLauncherFailure('garbage'), { step: 'launcher', errno: 0, message: 'garbage' });
  });
});

describe('completion as facts', () => {
  it('drains once the processes are gone, completes once the pipes close too, each once', async () => {
    let closePipes!: () => void;
    const pipesClosed = new Promise<void>((resolve) => (closePipes = resolve));
    const order: string[] = [];
    const completion = new TaskCompletion(
      pipesClosed,
      () => order.push('processes gone'),
      () => order.push('complete'),
    );
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    completion.exited.set();
    completion.containmentEmpty.set();
    await tick();
    assert.deepEqual(order, [], 'the namespace is still awaited');
    assert.deepEqual(completion.pending(['stdout']), ['pid namespace', 'pipes open: stdout']);
    completion.namespaceGone.set();
    completion.namespaceGone.set();
    await tick();
    assert.deepEqual(order, ['processes gone']);
    closePipes();
    await tick();
    assert.deepEqual(order, ['processes gone', 'complete']);
  });

  it('gives up at once when told to', async () => {
    const order: string[] = [];
    const completion = new TaskCompletion(
      Promise.resolve(),
      () => order.push('gone'),
      () => order.push('complete'),
    );
    completion.giveUp();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, ['gone', 'complete']);
  });
});

describe('launch plans', () => {
  const factory = new ContainmentFactory({ v1: new Map(), v2: undefined });

  it('resolve containment, limits and policies once, immutably', () => {
    const compiled = compileLaunchPlan(factory, TASK_SUBPROCESS_WITHOUT_CGROUPS, {}, KILL);
    assert.ok(compiled.plan);
    const plan = compiled.plan;
    assert.equal(plan.containment.kind, 'none');
    assert.equal(plan.processGroupLeader, true);
    assert.equal(plan.unkillableTimeoutSec, DEFAULT_CGROUP_OPTIONS.unkillableTimeoutSec);
    assert.deepEqual(plan.killRequest, KILL);
    assert.match(plan.description, /no cgroups/);
    assert.ok(Object.isFrozen(plan));
  });

  it('refuse limits the host cannot enforce, naming the controller', () => {
    const compiled = compileLaunchPlan(
      factory,
      TASK_SUBPROCESS_WITHOUT_CGROUPS,
      { memoryBytes: 1 << 20 },
      KILL,
    );
    assert.equal(compiled.plan, undefined);
    assert.match(compiled.problem!, /memory/);
  });
});
