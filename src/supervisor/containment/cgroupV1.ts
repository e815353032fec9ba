/**
 * cgroup v1 containment, as in the original: a task cgroup
 * `<mount of subsystem>/<slice>/<invocation id>` in every listed subsystem.
 *
 * Killing uses the freezer: freeze the cgroup (nothing inside can fork or
 * exit while frozen, so the pid list is exact and no pid can be reused),
 * SIGKILL every pid in it, thaw so the kills take effect. A freeze stuck in
 * FREEZING (a process in uninterruptible sleep) is thawed and retried after
 * a timeout. Without `freezer`, pids are killed only if
 * `kill_without_freezer` is set: signalling a pid read from cgroup.procs can
 * hit a recycled pid if the process exits in between.
 *
 * v1 has no "empty" notification without a release agent, so emptiness is
 * polled with exponential backoff (poll_ms doubling up to 10 s).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainmentSummary, TaskContainment, TaskUsage } from '../taskSpec.js';
import {
  killPids,
  readControl,
  readPidsRecursive,
  removeCgroupTree,
  waitWithBackoff,
  writeControl,
  writeControlAsync,
} from './cgroupFs.js';
import { ContainmentError } from './cgroupV2.js';
import type { CgroupLimits } from './limits.js';

export const DEFAULT_FREEZE_TIMEOUT_MS = 1000;

export class CgroupV1Containment implements TaskContainment {
  readonly strategy: string;
  readonly paths: readonly string[];
  readonly cgroupProcs: readonly string[];
  private readonly byController = new Map<string, string>();
  private readonly memoryLimitBytes: number | undefined;

  constructor(
    mounts: ReadonlyMap<string, string>,
    slice: string,
    invocationId: string,
    subsystems: readonly string[],
    private readonly limits: CgroupLimits,
    private readonly killWithoutFreezer: boolean,
    private readonly pollMs: number,
    private readonly freezeTimeoutMs = DEFAULT_FREEZE_TIMEOUT_MS,
  ) {
    for (const subsystem of subsystems) {
      const mount = mounts.get(subsystem);
      if (!mount) throw new ContainmentError(`cgroup v1 subsystem "${subsystem}" is not mounted`);
      this.byController.set(subsystem, join(mount, slice, invocationId));
    }
    const need = (controller: string, what: string) => {
      if (!this.byController.has(controller)) {
        throw new ContainmentError(
          `${what} requested, but "${controller}" is not in task_subprocess.cgroups.subsystems`,
        );
      }
    };
    if (limits.memoryBytes !== undefined) need('memory', 'a hard memory limit');
    if (limits.cpuCores !== undefined) need('cpu', 'a CPU weight');
    if (limits.pidsMax !== undefined) need('pids', 'pids_max');
    this.strategy = this.byController.has('freezer') ? 'cgroup_v1_freezer' : 'cgroup_v1';
    this.paths = [...this.byController.values()];
    this.cgroupProcs = this.paths.map((dir) => join(dir, 'cgroup.procs'));
    this.memoryLimitBytes = limits.memoryBytes;
  }

  async create(): Promise<void> {
    const { limits } = this;
    for (const dir of this.paths) await mkdir(dir, { recursive: true });
    const memory = this.byController.get('memory');
    if (memory && limits.memoryBytes !== undefined) {
      await writeControlAsync(memory, 'memory.limit_in_bytes', String(limits.memoryBytes));
      // Without swap accounting this file is absent; the RAM limit still holds.
      if (readControl(memory, 'memory.memsw.limit_in_bytes') !== undefined) {
        await writeControlAsync(memory, 'memory.memsw.limit_in_bytes', String(limits.memoryBytes));
      }
    }
    const cpu = this.byController.get('cpu');
    if (cpu && limits.cpuCores !== undefined) {
      const shares = Math.max(2, Math.round(limits.cpuCores * 1024));
      await writeControlAsync(cpu, 'cpu.shares', String(shares));
    }
    const pids = this.byController.get('pids');
    if (pids && limits.pidsMax !== undefined)
      await writeControlAsync(pids, 'pids.max', String(limits.pidsMax));
  }

  private pids(): number[] {
    const seen = new Set<number>();
    for (const dir of this.paths) for (const pid of readPidsRecursive(dir)) seen.add(pid);
    return [...seen];
  }

  isEmpty(): boolean {
    return this.pids().length === 0;
  }

  async killAll(): Promise<void> {
    const freezer = this.byController.get('freezer');
    if (freezer) return this.freezeKillThaw(freezer);
    if (this.killWithoutFreezer) killPids(this.pids());
  }

  async signalAll(signal: NodeJS.Signals): Promise<void> {
    if (this.byController.has('freezer') || this.killWithoutFreezer) killPids(this.pids(), signal);
  }

  /**
   * Freeze, SIGKILL everything, thaw. Pids are only signalled while frozen;
   * a freeze that does not complete is thawed and retried (the unkillable
   * watch reports a task that never freezes).
   */
  private async freezeKillThaw(dir: string): Promise<void> {
    for (let attempt = 0; attempt < 10 && (attempt === 0 || !this.isEmpty()); attempt++) {
      if (!(await this.freeze(dir))) continue;
      killPids(readPidsRecursive(dir));
      writeControl(dir, 'freezer.state', 'THAWED');
      return;
    }
  }

  /** True once FROZEN; false (after thawing) if it stayed FREEZING past the timeout. */
  private async freeze(dir: string): Promise<boolean> {
    writeControl(dir, 'freezer.state', 'FROZEN');
    const started = performance.now();
    const deadline = started + this.freezeTimeoutMs;
    let delay = 1;
    while (performance.now() < deadline) {
      if ((readControl(dir, 'freezer.state') ?? '').trim() === 'FROZEN') return true;
      // A freeze normally completes within a millisecond or two: check between event-loop
      // turns at first, then back off.
      if (performance.now() - started < 5) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 50);
    }
    writeControl(dir, 'freezer.state', 'THAWED');
    return false;
  }

  waitEmpty(): Promise<void> {
    return waitWithBackoff(() => this.isEmpty(), this.pollMs);
  }

  killRemaining(): Promise<void> {
    return this.killAll();
  }

  async release(): Promise<void> {
    for (const dir of this.paths) await removeCgroupTree(dir);
  }

  usage(): TaskUsage {
    const cpuacct = this.byController.get('cpuacct');
    const memory = this.byController.get('memory');
    const cpuNs = cpuacct ? readControl(cpuacct, 'cpuacct.usage') : undefined;
    const current = memory ? readControl(memory, 'memory.usage_in_bytes') : undefined;
    const peak = memory ? readControl(memory, 'memory.max_usage_in_bytes') : undefined;
    return {
      ...(cpuNs ? { cpuSeconds: Number(cpuNs) / 1e9 } : {}),
      ...(current ? { memoryBytes: Number(current) } : {}),
      ...(peak ? { memoryPeakBytes: Number(peak) } : {}),
    };
  }

  summary(): ContainmentSummary {
    const memory = this.byController.get('memory');
    const control = memory ? (readControl(memory, 'memory.oom_control') ?? '') : '';
    const match = /^oom_kill (\d+)$/m.exec(control);
    return { oomKills: match ? Number(match[1]) : 0, memoryLimitBytes: this.memoryLimitBytes };
  }
}
