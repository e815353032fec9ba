/**
 * Task cgroups (v2) kept for the next task instead of removed. Making and
 * removing a cgroup is some of the costliest kernel work in a short task's
 * life (the directory, its css_set, its teardown in kernel workers), and
 * while it runs it holds the locks that reads of every other task's
 * `cgroup.events` wait on. A cgroup whose task is gone and which is provably
 * clean -- empty, not frozen, no sub-cgroups, no limits of its own -- is
 * handed to the next task as it is; the CPU time it had counted so far is
 * kept as that task's baseline.
 *
 * Only an instance's own sub-tree has a pool (the owner removes what is idle
 * when it stops, and restart recovery removes whatever a crash left), and
 * only cgroups without controllers are reused: a task running as root could
 * change its own cgroup's limits (pids.max, cpu.weight) for every later
 * task, and memory.peak and the OOM counters cannot be reset.
 */
import { removeCgroupTree } from './cgroupFs.js';

export interface IdleCgroup {
  readonly dir: string;
  /** `usage_usec` of its cpu.stat when its last task was gone. */
  readonly cpuUsageUsec: number;
  /**
   * Its `cgroup.kill` was written (or may have been: a task in it died of a
   * signal nobody here sent), so no launcher is ever cloned into it
   * (startInCgroup.ts); launchers join it through `cgroup.procs` instead.
   */
  readonly killed: boolean;
}

/** Idle cgroups kept per slice; more are removed. */
const MAX_IDLE_CGROUPS = 256;

export class CgroupV2Pool {
  private readonly idle: IdleCgroup[] = [];
  private reused = 0;

  /** An idle cgroup for a new task, or undefined (the task then makes its own). */
  take(): IdleCgroup | undefined {
    const cgroup = this.idle.pop();
    if (cgroup) this.reused++;
    return cgroup;
  }

  /** Keeps a clean, empty cgroup for the next task; false if the pool is full (remove it). */
  keep(cgroup: IdleCgroup): boolean {
    if (this.idle.length >= MAX_IDLE_CGROUPS) return false;
    this.idle.push(cgroup);
    return true;
  }

  /** How many tasks started in a cgroup an earlier task used. */
  get reuseCount(): number {
    return this.reused;
  }

  /** Removes every idle cgroup (at a clean stop); returns those that could not be removed. */
  async drain(): Promise<string[]> {
    const kept: string[] = [];
    for (const cgroup of this.idle.splice(0)) {
      try {
        await removeCgroupTree(cgroup.dir);
      } catch (error) {
        kept.push(`${cgroup.dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    return kept;
  }
}
