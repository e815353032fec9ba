/**
 * Whether the launchers of a cgroup v2 slice are cloned straight into their
 * task's cgroup (clone3 with CLONE_INTO_CGROUP) instead of writing
 * themselves into its `cgroup.procs`. Started inside, the launcher never runs
 * a moment outside its cgroup, and no migration takes the kernel's host-wide
 * lock that every fork waits on (with several supervisors launching at once
 * on one host, that lock is where their launches queue).
 *
 * The catch: some kernels (6.18 does) SIGKILL a child cloned into a cgroup
 * whose count of `cgroup.kill` writes differs from the one of the parent's
 * own cgroup. So the clone is used only when
 *   - a child cloned into a fresh cgroup of the slice lives (probed once,
 *     when the slice is prepared: this also catches a supervisor whose own
 *     cgroup was killed once), and
 *   - the task's cgroup never had `cgroup.kill` written, as far as the
 *     supervisor can know (a kept cgroup remembers it; cgroupV2.ts);
 * and if a launcher is ever found killed inside the clone anyway (someone
 * else wrote `cgroup.kill` to an idle cgroup), the slice stops using it. Such
 * a launcher never ran an instruction, so its task never started: the launch
 * fails with a clear step, and nothing ran twice.
 */
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../native.js';

let probeCount = 0;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export class StartInCgroup {
  private why: string | undefined;

  private constructor(reason: string | undefined) {
    this.why = reason;
  }

  /** Probes the slice directory `sliceDir` (which must exist) with a fresh cgroup of its own. */
  static probe(sliceDir: string): StartInCgroup {
    const dir = join(sliceDir, `start-probe-${process.pid}-${++probeCount}`);
    try {
      mkdirSync(dir);
    } catch (error) {
      return new StartInCgroup(`cannot make a probe cgroup in ${sliceDir}: ${(error as Error).message}`);
    }
    try {
      const answer = native().probeStartInCgroup(dir);
      if (answer === 'started') return new StartInCgroup(undefined);
      if (answer === 'killed') {
        return new StartInCgroup(
          'the kernel kills a child cloned into a cgroup of this slice (the supervisor’s own cgroup was killed once)',
        );
      }
      return new StartInCgroup(answer === 'unsupported' ? 'clone3 is not available' : `probe: ${answer}`);
    } finally {
      removeProbe(dir);
    }
  }

  /** Never clone into a cgroup; `reason` says why. */
  static off(reason: string): StartInCgroup {
    return new StartInCgroup(reason);
  }

  get usable(): boolean {
    return this.why === undefined;
  }

  /** Why launchers join their cgroups instead; undefined while they start inside. */
  get reason(): string | undefined {
    return this.why;
  }

  disable(reason: string): void {
    this.why ??= reason;
  }
}

/** The probe child is reaped, but its cgroup may be busy for a moment while the kernel lets go of it. */
function removeProbe(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 100) throw error;
      Atomics.wait(PAUSE, 0, 0, 1);
    }
  }
}
