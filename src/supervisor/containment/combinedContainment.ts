/**
 * A task in two hierarchies at once: a primary containment that kills and
 * tracks the task (cgroup v2, or none), plus cgroup v1 controllers that
 * enforce the limits the primary's hierarchy lacks. On hosts whose cgroup v2
 * has no memory controller delegated but whose v1 memory hierarchy is
 * mounted, a hard memory limit is thus enforced instead of failing every
 * launch.
 */
import type { ContainmentSummary, ReleaseOptions, TaskContainment, TaskUsage } from '../taskSpec.js';

export class CombinedContainment implements TaskContainment {
  readonly strategy: string;
  readonly paths: readonly string[];
  readonly cgroupProcs: readonly string[];

  constructor(
    /** Kills and waits; undefined = the limits hierarchy alone (process-group kills). */
    private readonly primary: TaskContainment | undefined,
    private readonly limits: TaskContainment,
  ) {
    this.strategy = primary ? `${primary.strategy}+${limits.strategy}_limits` : limits.strategy;
    this.paths = [...(primary?.paths ?? []), ...limits.paths];
    this.cgroupProcs = [...(primary?.cgroupProcs ?? []), ...limits.cgroupProcs];
  }

  startCgroup(): string | undefined {
    return this.primary?.startCgroup?.();
  }

  startInCgroupFailed(): void {
    this.primary?.startInCgroupFailed?.();
  }

  async create(): Promise<void> {
    await this.primary?.create();
    await this.limits.create();
  }

  async waitEmpty(): Promise<void> {
    await this.primary?.waitEmpty();
    await this.limits.waitEmpty();
  }

  async killAll(): Promise<void> {
    await (this.primary ?? this.limits).killAll();
  }

  async killRemaining(): Promise<void> {
    await (this.primary ?? this.limits).killRemaining();
  }

  async signalAll(signal: NodeJS.Signals): Promise<void> {
    await (this.primary ?? this.limits).signalAll(signal);
  }

  async release(options?: ReleaseOptions): Promise<void> {
    await this.primary?.release(options);
    await this.limits.release();
  }

  summary(): ContainmentSummary {
    const fromLimits = this.limits.summary();
    const fromPrimary = this.primary?.summary();
    return {
      oomKills: fromLimits.oomKills + (fromPrimary?.oomKills ?? 0),
      memoryLimitBytes: fromLimits.memoryLimitBytes ?? fromPrimary?.memoryLimitBytes,
    };
  }

  usage(): TaskUsage {
    return { ...this.primary?.usage(), ...this.limits.usage() };
  }
}
