/**
 * Task cgroups kept for the next task (cgroup v2, an instance's own
 * sub-tree): a clean cgroup is handed on and the next task sees only its
 * own CPU time; one a task left unclean (a sub-cgroup, frozen) or whose
 * launch failed is removed; a task in a reused cgroup is contained as in a
 * new one; the owner's stop removes what is idle. Launchers are cloned
 * straight into their cgroups, except into one whose cgroup.kill was written
 * (this kernel would kill them in the clone). Real cgroups on this host.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import {
  ContainmentFactory,
  type ContainmentChoice,
} from '../../src/supervisor/containment/containmentFactory.js';
import { native } from '../../src/supervisor/native.js';
import { mounts, removeTestSlices, STRATEGIES, TEST_SLICE } from '../helpers/containment.js';
import { isAlive, ProcessLedger, waitFor } from '../helpers/processes.js';
import { Recorder } from '../helpers/supervisor.js';

const V2 = STRATEGIES.find((strategy) => strategy.name === 'cgroup_v2')!;

/** Whether the factory's v2 slice clones launchers straight into their cgroups. */
function startInOf(factory: ContainmentFactory) {
  const choice = factory.choose(V2.options);
  assert.equal(choice.kind, 'v2');
  return factory.startInFor(choice as ContainmentChoice & { kind: 'v2' });
}
const INSTANCE = `bistro-pool-test-${process.pid}`;
const KILL = { method: 'kill', killWaitMs: 0 } as const;
/** The task's own cgroup v2 path, appended to "$2" ("$1" is for pids). */
const OWN_CGROUP = 'grep "^0::" /proc/self/cgroup | cut -d: -f3 >> "$2"';
const OWN_DIR = `"${'$'}{ROOT}$(grep "^0::" /proc/self/cgroup | cut -d: -f3)"`;

describe('cgroup v2 pool', () => {
  if (V2.missing) {
    it(`skipped: ${V2.missing}`, (t) => {
      console.log(`# cgroup v2 pool skipped: ${V2.missing}`);
      t.skip(V2.missing);
    });
    return;
  }
  const sliceDir = join(mounts.v2!, TEST_SLICE, INSTANCE);
  let factory: ContainmentFactory;
  let recorder: Recorder;
  let ledger: ProcessLedger;
  beforeEach(() => {
    factory = new ContainmentFactory(undefined, { instance: INSTANCE });
    recorder = new Recorder(factory);
    ledger = new ProcessLedger();
  });
  afterEach(async () => {
    await recorder.stop();
    assert.deepEqual(await ledger.cleanup(), [], 'no process left behind');
    assert.deepEqual(await factory.removeInstanceCgroups(), [], 'every idle cgroup removed at stop');
    assert.equal(existsSync(sliceDir), false, 'the instance sub-tree is gone');
  });
  after(() => removeTestSlices());

  const sh = (script: string) =>
    recorder.sh(`ROOT=${mounts.v2}; ${script}`, [ledger.pidFile(), ledger.pidFile('cgroups')], V2.options);
  const cgroupsSeen = () =>
    existsSync(ledger.pidFile('cgroups'))
      ? readFileSync(ledger.pidFile('cgroups'), 'utf8')
          .split('\n')
          .filter((line) => line !== '')
      : [];

  it('hands a clean cgroup to the next task, which counts only its own CPU time', async () => {
    const first = sh(`${OWN_CGROUP}; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`);
    const firstResult = await first.done;
    assert.equal(firstResult.exitCode, 0);
    const second = sh(`${OWN_CGROUP}; exec sleep 30`);
    await waitFor(() => cgroupsSeen().length === 2);
    const [a, b] = cgroupsSeen();
    assert.equal(b, a, 'the second task runs in the first one’s cgroup');
    assert.equal(factory.reusedCgroups, 1);
    const secondUsage = second.usage().cpuSeconds;
    assert.ok(secondUsage !== undefined && secondUsage < 0.1, `second task's CPU ${secondUsage} s`);
    recorder.supervisor.kill(second.invocationId, KILL);
    assert.equal((await second.done).killed, true);
  });

  /** Where the `running` event says the task's launcher was cloned into, if anywhere. */
  const clonedInto = (invocationId: string) =>
    recorder.events.find((event) => event.invocationId === invocationId && event.event === 'running')
      ?.cloned_into_cgroup;

  it('clones launchers straight into their cgroups where this host allows it', async (t) => {
    const startIn = startInOf(factory);
    if (process.arch !== 'x64')
      return t.skip(`cloning into a cgroup is built for x86-64 only, not ${process.arch}`);
    assert.equal(startIn.reason, undefined, 'a fresh cgroup of the slice passes the probe');
    const first = sh(OWN_CGROUP);
    assert.equal((await first.done).exitCode, 0);
    assert.equal(clonedInto(first.invocationId), join(mounts.v2!, cgroupsSeen()[0]!));
  });

  it('hands on the cgroup of a task killed through cgroup.kill, and never clones into it', async () => {
    const killed = sh(`${OWN_CGROUP}; exec sleep 100`);
    await waitFor(() => cgroupsSeen().length === 1);
    recorder.supervisor.kill(killed.invocationId, KILL);
    assert.equal((await killed.done).killed, true);
    // A kernel kills every child cloned straight into a cgroup killed before (CLONE_INTO_CGROUP
    // compares kill counts with the parent's cgroup): the launcher must join, not be cloned in.
    const next = sh(`${OWN_CGROUP}; exit 3`);
    const result = await next.done;
    assert.equal(result.exitSignal, null, 'not killed');
    assert.equal(result.exitCode, 3);
    assert.equal(clonedInto(next.invocationId), undefined);
    const [first, second] = cgroupsSeen();
    assert.equal(second, first);
    assert.equal(factory.reusedCgroups, 1);
  });

  it('an idle cgroup killed from outside: a launcher killed in the clone never ran its task, and the slice stops cloning', async (t) => {
    if (process.arch !== 'x64')
      return t.skip(`cloning into a cgroup is built for x86-64 only, not ${process.arch}`);
    await sh(OWN_CGROUP).done;
    const [idle] = cgroupsSeen();
    writeFileSync(join(mounts.v2!, idle!, 'cgroup.kill'), '1'); // someone else writes it while it is idle
    const kernelKills = native().probeStartInCgroup(join(mounts.v2!, idle!)) === 'killed';
    const marker = join(ledger.dir, 'ran');
    const next = sh(`${OWN_CGROUP}; touch ${marker}`);
    const result = await next.done;
    const startIn = startInOf(factory);
    assert.equal(clonedInto(next.invocationId), join(mounts.v2!, idle!), 'nobody here knew of that kill');
    if (kernelKills) {
      // This kernel kills it (6.18 does): the launch failed before anything of the task ran.
      assert.equal(result.launchFailure?.step, 'clone-into-cgroup');
      assert.match(
        result.launchFailure?.message ?? '<none>',
        /killed the launcher \(SIGKILL\) before it ran/,
      );
      assert.equal(existsSync(marker), false, 'the task never started');
      assert.equal(result.killedFromOutside, false);
      assert.match(startIn.reason ?? '', /killed inside the clone/);
      assert.equal(existsSync(join(mounts.v2!, idle!)), false, 'its cgroup was removed, not handed on');
    } else {
      assert.equal(result.exitCode, 0, 'a kernel that does not kill it runs the task');
      assert.equal(existsSync(marker), true);
    }
    const after = sh(`${OWN_CGROUP}; exit 4`);
    assert.equal((await after.done).exitCode, 4, 'the next task runs');
    if (!startIn.usable) assert.equal(clonedInto(after.invocationId), undefined);
  });

  it('contains a task in a reused cgroup: a setsid grandchild dies with it', async () => {
    await sh(OWN_CGROUP).done;
    const task = sh(`${OWN_CGROUP}; setsid sh -c 'echo $$ >> "$1"; exec sleep 100' sh "$1" & wait`);
    const [grandchild] = await ledger.pids(1);
    assert.equal(factory.reusedCgroups, 1);
    const [first, second] = cgroupsSeen();
    assert.equal(second, first);
    recorder.supervisor.kill(task.invocationId, KILL);
    await task.done;
    assert.equal(isAlive(grandchild!), false, 'the grandchild is gone');
  });

  it('never hands on a cgroup left with a sub-cgroup, frozen, or whose launch failed', async () => {
    const root = mounts.v2!;
    await sh(`${OWN_CGROUP}; mkdir ${OWN_DIR}/sub`).done;
    const frozen = sh(`${OWN_CGROUP}; echo 1 > ${OWN_DIR}/cgroup.freeze; sleep 100`);
    await waitFor(() => cgroupsSeen().length === 2);
    await waitFor(() =>
      readFileSync(join(root, cgroupsSeen()[1]!, 'cgroup.events'), 'utf8').includes('frozen 1'),
    );
    recorder.supervisor.kill(frozen.invocationId, KILL);
    await frozen.done;
    const failed = recorder.start({ argv: ['/nonexistent/command'], cwd: '/tmp', options: V2.options });
    assert.notEqual((await failed.done).launchFailure, undefined);
    await sh(OWN_CGROUP).done;
    const [withSub, wasFrozen, fresh] = cgroupsSeen();
    assert.equal(factory.reusedCgroups, 0, 'nothing was handed on');
    assert.equal(new Set([withSub, wasFrozen, fresh]).size, 3);
    for (const path of [withSub!, wasFrozen!])
      assert.equal(existsSync(join(root, path)), false, `${path} removed`);
  });
});
