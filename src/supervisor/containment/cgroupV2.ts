/**
 * cgroup v2 containment. Each task gets
 * `<root>/<slice>/<invocation id>`. Killing writes `cgroup.kill`, which the
 * kernel applies atomically to the whole subtree -- processes forked during
 * the kill included, and no pid can be reused under us. Completion waits for
 * `populated 0` in `cgroup.events` by inotify, with a slow backoff poll only
 * as a safety net. The cgroup is removed afterwards, or kept for the next
 * task when it comes from an instance's pool (cgroupV2Pool.ts).
 *
 * Cannot stop: a process that moves itself to another cgroup (needs write
 * access to the target), or work handed to a system daemon.
 */
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainmentSummary, ReleaseOptions, TaskContainment, TaskUsage } from '../taskSpec.js';
import {
  killPids,
  readControl,
  readPidsRecursive,
  removeCgroupTree,
  waitWithBackoff,
  writeControl,
  writeControlAsync,
} from './cgroupFs.js';
import type { CgroupV2Pool } from './cgroupV2Pool.js';
import type { CgroupLimits } from './limits.js';
import type { StartInCgroup } from './startInCgroup.js';

export class ContainmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainmentError';
  }
}

/**
 * Creates the slice (each level of a nested one) and enables the controllers
 * it can on every level down to it; returns the enabled ones.
 */
export function prepareV2Slice(root: string, slice: string, wanted: readonly string[]): string[] {
  const sliceDir = join(root, slice);
  mkdirSync(sliceDir, { recursive: true });
  const levels = [root];
  for (const part of slice.split('/').filter(Boolean)) levels.push(join(levels[levels.length - 1]!, part));
  const available = (readControl(root, 'cgroup.controllers') ?? '').trim().split(/\s+/).filter(Boolean);
  const enabled: string[] = [];
  for (const controller of wanted) {
    if (!available.includes(controller)) continue;
    try {
      for (const dir of levels) writeControl(dir, 'cgroup.subtree_control', `+${controller}`);
      enabled.push(controller);
    } catch {
      // A controller that cannot be delegated here is simply not used.
    }
  }
  return enabled;
}

export class CgroupV2Containment implements TaskContainment {
  readonly strategy = 'cgroup_v2';
  readonly dir: string;
  readonly paths: readonly string[];
  readonly cgroupProcs: readonly string[];
  private readonly memoryLimitBytes: number | undefined;
  /** killRemaining found it empty after the main process exited. */
  private seenEmpty = false;
  /** Someone froze it (a task may write its own cgroup.freeze): never handed to another task. */
  private seenFrozen = false;
  /** The pool it came from or may go back to; undefined = made for this task and removed after. */
  private readonly pool: CgroupV2Pool | undefined;
  /** Taken from the pool: it exists already, and `usage_usec` counted from here. */
  private readonly reused: boolean;
  private readonly cpuBaselineUsec: number;
  /** Its `cgroup.kill` was (or may have been) written, by now or for an earlier task. */
  private killWritten: boolean;
  private readonly startIn: StartInCgroup | undefined;

  /**
   * Checks the limits against the slice's controllers; create() makes the
   * cgroup. With a pool (only for a task without limits of its own, in a
   * slice without controllers), an idle cgroup is taken from it
   * if there is one, and the cgroup goes back to it when it is released clean.
   * With `startIn`, the launcher may be cloned straight into the cgroup.
   */
  constructor(
    root: string,
    slice: string,
    invocationId: string,
    private readonly limits: CgroupLimits,
    private readonly enabledControllers: readonly string[],
    private readonly pollMs: number,
    { pool, startIn }: { readonly pool?: CgroupV2Pool; readonly startIn?: StartInCgroup } = {},
  ) {
    // With a controller enabled, a task (as root) could change its own cgroup's limits
    // (pids.max, cpu.weight) for every later task; memory.peak and OOM counts cannot be reset.
    const reusable =
      pool !== undefined &&
      enabledControllers.length === 0 &&
      limits.memoryBytes === undefined &&
      limits.cpuCores === undefined &&
      limits.pidsMax === undefined;
    this.pool = reusable ? pool : undefined;
    const idle = this.pool?.take();
    this.reused = idle !== undefined;
    this.cpuBaselineUsec = idle?.cpuUsageUsec ?? 0;
    this.killWritten = idle?.killed ?? false;
    this.startIn = startIn;
    this.dir = idle?.dir ?? join(root, slice, invocationId);
    this.paths = [this.dir];
    this.cgroupProcs = [join(this.dir, 'cgroup.procs')];
    const require = (controller: string, what: string) => {
      if (!enabledControllers.includes(controller)) {
        throw new ContainmentError(
          `${what} requested, but the "${controller}" controller is not available to ${join(root, slice)} (cgroup v2); use cgroup v1 ("version": "v1") or drop the limit`,
        );
      }
    };
    if (limits.memoryBytes !== undefined) require('memory', 'a hard memory limit');
    if (limits.cpuCores !== undefined) require('cpu', 'a CPU weight');
    if (limits.pidsMax !== undefined) require('pids', 'pids_max');
    this.memoryLimitBytes = limits.memoryBytes;
  }

  startCgroup(): string | undefined {
    return this.startIn?.usable && !this.killWritten ? this.dir : undefined;
  }

  startInCgroupFailed(): void {
    this.killWritten = true;
    this.startIn?.disable(
      `a launcher cloned into ${this.dir} was killed inside the clone (its cgroup.kill was written from outside)`,
    );
  }

  async create(): Promise<void> {
    const { limits } = this;
    if (this.reused) return;
    await mkdir(this.dir);
    if (limits.memoryBytes !== undefined) {
      await writeControlAsync(this.dir, 'memory.max', String(limits.memoryBytes));
      await writeControlAsync(this.dir, 'memory.swap.max', '0');
    }
    if (limits.cpuCores !== undefined) {
      const weight = Math.min(10000, Math.max(1, Math.round(limits.cpuCores * 100)));
      await writeControlAsync(this.dir, 'cpu.weight', String(weight));
    }
    if (limits.pidsMax !== undefined) await writeControlAsync(this.dir, 'pids.max', String(limits.pidsMax));
  }

  isPopulated(): boolean {
    const events = readControl(this.dir, 'cgroup.events');
    if (events === undefined) return false;
    if (/^frozen 1$/m.test(events)) this.seenFrozen = true;
    return /^populated 1$/m.test(events);
  }

  async killAll(): Promise<void> {
    this.killWritten = true;
    try {
      writeControl(this.dir, 'cgroup.kill', '1');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async killRemaining(): Promise<void> {
    // An empty cgroup stays empty (no member is left to fork), and cgroup.kill takes the
    // kernel's global cgroup lock: skip it, as after most tasks' normal exit. (A synchronous
    // read of cgroup.events costs less here than fs.promises.readFile's four round trips.)
    if (this.isPopulated()) await this.killAll();
    else this.seenEmpty = true;
  }

  async signalAll(signal: NodeJS.Signals): Promise<void> {
    killPids(readPidsRecursive(this.dir), signal);
  }

  waitEmpty(): Promise<void> {
    // Seen empty once, it stays empty (as above): no second read of cgroup.events per task.
    if (this.seenEmpty || !this.isPopulated()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let watcher: FSWatcher | undefined;
      const abort = new AbortController();
      const finish = () => {
        watcher?.close();
        abort.abort();
        resolve();
      };
      try {
        watcher = watch(join(this.dir, 'cgroup.events'), () => {
          if (!this.isPopulated()) finish();
        });
        watcher.on('error', () => undefined);
      } catch {
        // Without inotify the backoff poll below still finishes the wait.
      }
      // It may have emptied between the first check and the watch: look again.
      if (!this.isPopulated()) return finish();
      // A safety net against a missed notification; not the primary mechanism.
      waitWithBackoff(() => !this.isPopulated(), Math.max(this.pollMs, 1000), abort.signal).then(
        finish,
        (error: Error) => {
          if (error.message !== 'aborted') reject(error);
        },
      );
    });
  }

  /**
   * Removes the cgroup, or gives it back to its pool when `reusable` (the
   * task ran and ended normally) and it is provably clean: empty, never seen
   * frozen, no sub-cgroups (`cgroup.stat`). Anything else is removed.
   */
  async release(options: ReleaseOptions = {}): Promise<void> {
    if (this.pool && options.reusable !== false && this.isClean()) {
      const cpuUsageUsec = readCpuUsageUsec(this.dir);
      const killed = this.killWritten || options.killedFromOutside === true;
      if (cpuUsageUsec !== undefined && this.pool.keep({ dir: this.dir, cpuUsageUsec, killed })) return;
    }
    await removeCgroupTree(this.dir);
  }

  private isClean(): boolean {
    const empty = this.seenEmpty || !this.isPopulated();
    if (!empty || this.seenFrozen) return false;
    const stat = readControl(this.dir, 'cgroup.stat');
    return stat !== undefined && /^nr_descendants 0$/m.test(stat);
  }

  usage(): TaskUsage {
    const usageUsec = readCpuUsageUsec(this.dir);
    const memory = this.enabledControllers.includes('memory');
    const current = memory ? readControl(this.dir, 'memory.current') : undefined;
    const peak = memory ? readControl(this.dir, 'memory.peak') : undefined;
    return {
      ...(usageUsec !== undefined ? { cpuSeconds: Math.max(0, usageUsec - this.cpuBaselineUsec) / 1e6 } : {}),
      ...(current ? { memoryBytes: Number(current) } : {}),
      ...(peak ? { memoryPeakBytes: Number(peak) } : {}),
    };
  }

  summary(): ContainmentSummary {
    if (!this.enabledControllers.includes('memory'))
      return { oomKills: 0, memoryLimitBytes: this.memoryLimitBytes };
    const events = readControl(this.dir, 'memory.events') ?? '';
    const match = /^oom_kill (\d+)$/m.exec(events);
    return { oomKills: match ? Number(match[1]) : 0, memoryLimitBytes: this.memoryLimitBytes };
  }
}

function readCpuUsageUsec(dir: string): number | undefined {
  const match = /^usage_usec (\d+)$/m.exec(readControl(dir, 'cpu.stat') ?? '');
  return match ? Number(match[1]) : undefined;
}
