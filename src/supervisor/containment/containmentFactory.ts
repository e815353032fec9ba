/**
 * Chooses and creates each task's containment from `task_subprocess.cgroups`
 *:
 *   - key absent: cgroup v2 if the scheduler can create cgroups there, else
 *     none -- with a warning that says why (`warnings`);
 *   - `"version": "v2"`: cgroup v2, at `root` or the detected unified mount;
 *   - non-empty `subsystems` (or `"version": "v1"`): cgroup v1 in those controllers;
 *   - `{"subsystems": []}`: none.
 *
 * With an `instance` identity, every slice gets a sub-tree of that name
 * (`bistro.slice/<instance>/<invocation>`): an instance owns exactly its
 * sub-tree, and restart recovery never looks beyond it. Such an instance
 * also keeps clean task cgroups (v2) for its next tasks (cgroupV2Pool.ts)
 * and removes them when it stops. Each v2 slice is probed once for whether
 * launchers can be cloned straight into their cgroups (startInCgroup.ts).
 *
 * Limits the chosen hierarchy cannot enforce (cgroup v2 without the memory,
 * cpu or pids controller) are enforced in the cgroup v1 hierarchy of that
 * controller when one is mounted; otherwise `check` names the missing
 * controller, so the config is refused when it loads and no launch fails.
 */
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupOptions, TaskSubprocessOptions } from '../../config/taskSubprocess.js';
import type { TaskContainment } from '../taskSpec.js';
import { CgroupV1Containment } from './cgroupV1.js';
import { CombinedContainment } from './combinedContainment.js';
import { CgroupV2Containment, ContainmentError, prepareV2Slice } from './cgroupV2.js';
import { CgroupV2Pool } from './cgroupV2Pool.js';
import { limitControllers, type CgroupLimits } from './limits.js';
import { readCgroupMounts, type CgroupMounts } from './mounts.js';
import { StartInCgroup } from './startInCgroup.js';

export const DEFAULT_SLICE = 'bistro.slice';
const V2_CONTROLLERS = ['memory', 'cpu', 'pids'];

export type ContainmentChoice =
  | { readonly kind: 'none'; readonly reason: string }
  | {
      readonly kind: 'v1';
      readonly mounts: ReadonlyMap<string, string>;
      readonly slice: string;
      readonly options: CgroupOptions;
    }
  | {
      readonly kind: 'v2';
      readonly root: string;
      readonly slice: string;
      readonly controllers: readonly string[];
    };

export interface ContainmentFactoryOptions {
  /** The owning instance's identity: task cgroups go under `<slice>/<instance>/`. */
  readonly instance?: string;
}

export class ContainmentFactory {
  /** Why automatic containment fell back to none, once per reason. */
  readonly warnings: string[] = [];
  readonly instance: string | undefined;
  private autoChoice: ContainmentChoice | undefined;
  private readonly v2Slices = new Map<string, string[] | ContainmentError>();
  /** v1 slice directories task cgroups were made in (the instance's sub-trees). */
  private readonly v1Slices = new Set<string>();
  /** Idle task cgroups per v2 slice directory; only with an instance identity. */
  private readonly v2Pools = new Map<string, CgroupV2Pool>();
  /** Whether launchers start inside their cgroups, per prepared v2 slice directory. */
  private readonly v2StartIn = new Map<string, StartInCgroup>();

  constructor(
    private readonly mounts: CgroupMounts = readCgroupMounts(),
    options: ContainmentFactoryOptions = {},
  ) {
    this.instance = options.instance;
  }

  /** The instance's sub-tree of a configured slice. */
  private ownSlice(configured: string): string {
    return this.instance === undefined ? configured : join(configured, this.instance);
  }

  choose(options: TaskSubprocessOptions): ContainmentChoice {
    const cgroups = options.cgroups;
    if (cgroups === undefined) return this.auto();
    const slice = this.ownSlice(cgroups.slice || DEFAULT_SLICE);
    if (cgroups.version === 'v2') {
      const root = cgroups.root || this.mounts.v2;
      if (!root)
        return { kind: 'none', reason: 'cgroup v2 was requested but no cgroup2 hierarchy is mounted' };
      return { kind: 'v2', root, slice, controllers: this.v2Controllers(root, slice) };
    }
    if (cgroups.subsystems.length > 0 || cgroups.version === 'v1') {
      const mounts = cgroups.root
        ? new Map(cgroups.subsystems.map((subsystem) => [subsystem, join(cgroups.root, subsystem)]))
        : this.mounts.v1;
      return { kind: 'v1', mounts, slice, options: cgroups };
    }
    return { kind: 'none', reason: 'cgroups are turned off ("subsystems": [])' };
  }

  /**
   * Why `limits` cannot be enforced for tasks with `options`, or undefined
   * if they can. The config loader calls this, so a task never fails at
   * launch because of a config the scheduler accepted.
   */
  check(options: TaskSubprocessOptions, limits: CgroupLimits): string | undefined {
    return this.problemWith(this.choose(options), options, limits);
  }

  /** Why `limits` cannot be enforced under `choice`, or undefined. */
  problemWith(
    choice: ContainmentChoice,
    options: TaskSubprocessOptions,
    limits: CgroupLimits,
  ): string | undefined {
    const wanted = limitControllers(limits);
    if (wanted.length === 0) return undefined;
    if (choice.kind === 'v1') {
      const subsystems = choice.options.subsystems.length > 0 ? choice.options.subsystems : ['freezer'];
      const missing = wanted.filter(({ controller }) => !subsystems.includes(controller));
      if (missing.length === 0) return undefined;
      return missing
        .map(
          ({ controller, what }) =>
            `${what} needs the cgroup v1 "${controller}" controller: add "${controller}" to task_subprocess.cgroups.subsystems`,
        )
        .join('; ');
    }
    if (choice.kind === 'none' && options.cgroups !== undefined) {
      return `${wanted.map((w) => w.what).join(' and ')} cannot be enforced: cgroups are turned off for this job (${choice.reason}); enable cgroups or drop the limit`;
    }
    const inPrimary = choice.kind === 'v2' ? choice.controllers : [];
    const problems = wanted
      .filter(({ controller }) => !inPrimary.includes(controller) && !this.mounts.v1.has(controller))
      .map(({ controller, what }) => {
        const where =
          choice.kind === 'v2'
            ? `cgroup v2 at ${join(choice.root, choice.slice)} has no "${controller}" controller (enable it in the parent's cgroup.subtree_control)`
            : `tasks run without cgroups (${choice.reason})`;
        return `${what} needs the "${controller}" controller: ${where}, and no cgroup v1 "${controller}" hierarchy is mounted; mount one, or drop the limit`;
      });
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /**
   * The task's containment, or undefined for none, under `choice` (a launch
   * plan's, made once) or one made now. Throws ContainmentError with a clear reason.
   */
  create(
    invocationId: string,
    options: TaskSubprocessOptions,
    limits: CgroupLimits = {},
    choice: ContainmentChoice = this.choose(options),
  ): TaskContainment | undefined {
    const problem = this.problemWith(choice, options, limits);
    if (problem) throw new ContainmentError(problem);
    if (choice.kind === 'none') {
      if (options.cgroups?.version === 'v2') throw new ContainmentError(choice.reason);
      return this.v1LimitsFor(invocationId, [], limits, options.pollMs, DEFAULT_SLICE);
    }
    if (choice.kind === 'v2') {
      const prepared = this.v2Slices.get(join(choice.root, choice.slice));
      if (prepared instanceof ContainmentError) throw prepared;
      const ownLimits = pickLimits(limits, choice.controllers);
      const primary = new CgroupV2Containment(
        choice.root,
        choice.slice,
        invocationId,
        ownLimits,
        choice.controllers,
        options.pollMs,
        { pool: this.poolFor(join(choice.root, choice.slice)), startIn: this.startInFor(choice) },
      );
      const configuredSlice = options.cgroups?.slice || DEFAULT_SLICE;
      return this.v1LimitsFor(
        invocationId,
        choice.controllers,
        limits,
        options.pollMs,
        configuredSlice,
        primary,
      );
    }
    const subsystems = choice.options.subsystems.length > 0 ? choice.options.subsystems : ['freezer'];
    for (const subsystem of subsystems) {
      const mount = choice.mounts.get(subsystem);
      if (mount) this.v1Slices.add(join(mount, choice.slice));
    }
    return new CgroupV1Containment(
      choice.mounts,
      choice.slice,
      invocationId,
      subsystems,
      limits,
      choice.options.killWithoutFreezer,
      options.pollMs,
    );
  }

  /**
   * The limits `covered` cannot enforce, in cgroup v1 (with `primary` doing
   * the killing, if any); undefined if nothing is left over.
   */
  private v1LimitsFor(
    invocationId: string,
    covered: readonly string[],
    limits: CgroupLimits,
    pollMs: number,
    configuredSlice: string,
    primary?: TaskContainment,
  ): TaskContainment | undefined {
    const extra = limitControllers(limits)
      .map(({ controller }) => controller)
      .filter((controller) => !covered.includes(controller));
    if (extra.length === 0) return primary;
    const slice = this.ownSlice(configuredSlice);
    for (const controller of extra) this.v1Slices.add(join(this.mounts.v1.get(controller)!, slice));
    const v1 = new CgroupV1Containment(
      this.mounts.v1,
      slice,
      invocationId,
      extra,
      pickLimits(limits, extra),
      false,
      pollMs,
    );
    return new CombinedContainment(primary, v1);
  }

  /**
   * Removes the instance's own slice directories once its tasks are gone
   * (at a clean stop). A directory still in use is left alone.
   */
  async removeInstanceCgroups(): Promise<string[]> {
    if (this.instance === undefined) return [];
    const kept: string[] = [];
    for (const pool of this.v2Pools.values()) kept.push(...(await pool.drain()));
    const dirs = [
      ...[...this.v2Slices].filter(([, prepared]) => Array.isArray(prepared)).map(([dir]) => dir),
      ...this.v1Slices,
    ];
    for (const dir of dirs) {
      try {
        await rmdir(dir);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') kept.push(`${dir}: ${code ?? (error as Error).message}`);
      }
    }
    return kept;
  }

  /** The pool of idle task cgroups in an instance's own v2 slice; none without an instance. */
  private poolFor(sliceDir: string): CgroupV2Pool | undefined {
    if (this.instance === undefined) return undefined;
    let pool = this.v2Pools.get(sliceDir);
    if (!pool) {
      pool = new CgroupV2Pool();
      this.v2Pools.set(sliceDir, pool);
    }
    return pool;
  }

  /** Whether launchers of a v2 choice's slice are cloned straight into their cgroups, and if not, why. */
  startInFor(choice: ContainmentChoice & { kind: 'v2' }): StartInCgroup {
    const sliceDir = join(choice.root, choice.slice);
    let startIn = this.v2StartIn.get(sliceDir);
    if (!startIn) {
      startIn =
        this.v2Slices.get(sliceDir) instanceof ContainmentError
          ? StartInCgroup.off(`${sliceDir} could not be prepared`)
          : StartInCgroup.probe(sliceDir);
      this.v2StartIn.set(sliceDir, startIn);
    }
    return startIn;
  }

  /** Tasks started in a cgroup an earlier task of this instance used (all slices). */
  get reusedCgroups(): number {
    let reused = 0;
    for (const pool of this.v2Pools.values()) reused += pool.reuseCount;
    return reused;
  }

  /** One line for the startup log. */
  describe(options: TaskSubprocessOptions): string {
    return this.describeChoice(this.choose(options));
  }

  describeChoice(choice: ContainmentChoice): string {
    if (choice.kind === 'none') return `no cgroups: ${choice.reason}`;
    if (choice.kind === 'v2') {
      const startIn = this.startInFor(choice);
      const start = startIn.usable
        ? 'launchers start inside their cgroups'
        : `launchers join their cgroups: ${startIn.reason}`;
      return `cgroup v2 at ${join(choice.root, choice.slice)} (controllers: ${choice.controllers.join(', ') || 'none'}; ${start})`;
    }
    return `cgroup v1 in ${[...choice.options.subsystems].join(', ') || 'freezer'} (slice ${choice.slice})`;
  }

  private auto(): ContainmentChoice {
    if (this.autoChoice) return this.autoChoice;
    const root = this.mounts.v2;
    if (!root) {
      this.autoChoice = { kind: 'none', reason: 'no cgroup2 hierarchy is mounted' };
    } else {
      const slice = this.ownSlice(DEFAULT_SLICE);
      const controllers = this.v2Controllers(root, slice);
      const failure = this.v2Slices.get(join(root, slice));
      this.autoChoice =
        failure instanceof ContainmentError
          ? { kind: 'none', reason: failure.message }
          : { kind: 'v2', root, slice, controllers };
    }
    if (this.autoChoice.kind === 'none') {
      this.warnings.push(
        `tasks run without cgroups: ${this.autoChoice.reason}; a task's escaped descendants cannot be killed`,
      );
    }
    return this.autoChoice;
  }

  private v2Controllers(root: string, slice: string): string[] {
    const key = join(root, slice);
    let prepared = this.v2Slices.get(key);
    if (prepared === undefined) {
      try {
        prepared = prepareV2Slice(root, slice, V2_CONTROLLERS);
      } catch (error) {
        prepared = new ContainmentError(`cannot create cgroup ${key}: ${(error as Error).message}`);
      }
      this.v2Slices.set(key, prepared);
    }
    return prepared instanceof ContainmentError ? [] : prepared;
  }
}

function pickLimits(limits: CgroupLimits, controllers: readonly string[]): CgroupLimits {
  return {
    ...(limits.memoryBytes !== undefined && controllers.includes('memory')
      ? { memoryBytes: limits.memoryBytes }
      : {}),
    ...(limits.cpuCores !== undefined && controllers.includes('cpu') ? { cpuCores: limits.cpuCores } : {}),
    ...(limits.pidsMax !== undefined && controllers.includes('pids') ? { pidsMax: limits.pidsMax } : {}),
  };
}
