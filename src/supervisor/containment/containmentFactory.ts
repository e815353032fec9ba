/**
 * Chooses and creates each task's containment from `task_subprocess.cgroups`
 * (SPEC §5.5, README "Containment"):
 *   - key absent: cgroup v2 if the scheduler can create cgroups there, else
 *     none -- with a warning that says why (`warnings`);
 *   - `"version": "v2"`: cgroup v2, at `root` or the detected unified mount;
 *   - non-empty `subsystems` (or `"version": "v1"`): cgroup v1 in those controllers;
 *   - `{"subsystems": []}`: none.
 */
import { join } from 'node:path';
import type { CgroupOptions, TaskSubprocessOptions } from '../../config/taskSubprocess.js';
import type { TaskContainment } from '../taskSpec.js';
import { CgroupV1Containment } from './cgroupV1.js';
import { CgroupV2Containment, ContainmentError, prepareV2Slice } from './cgroupV2.js';
import type { CgroupLimits } from './limits.js';
import { readCgroupMounts, type CgroupMounts } from './mounts.js';

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

export class ContainmentFactory {
  /** Why automatic containment fell back to none, once per reason. */
  readonly warnings: string[] = [];
  private autoChoice: ContainmentChoice | undefined;
  private readonly v2Slices = new Map<string, string[] | ContainmentError>();

  constructor(private readonly mounts: CgroupMounts = readCgroupMounts()) {}

  choose(options: TaskSubprocessOptions): ContainmentChoice {
    const cgroups = options.cgroups;
    if (cgroups === undefined) return this.auto();
    const slice = cgroups.slice || DEFAULT_SLICE;
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

  /** The task's containment, or undefined for none. Throws ContainmentError with a clear reason. */
  create(
    invocationId: string,
    options: TaskSubprocessOptions,
    limits: CgroupLimits = {},
  ): TaskContainment | undefined {
    const choice = this.choose(options);
    if (choice.kind === 'none') {
      if (options.cgroups?.version === 'v2') throw new ContainmentError(choice.reason);
      return undefined;
    }
    if (choice.kind === 'v2') {
      const prepared = this.v2Slices.get(join(choice.root, choice.slice));
      if (prepared instanceof ContainmentError) throw prepared;
      return new CgroupV2Containment(
        choice.root,
        choice.slice,
        invocationId,
        limits,
        choice.controllers,
        options.pollMs,
      );
    }
    const subsystems = choice.options.subsystems.length > 0 ? choice.options.subsystems : ['freezer'];
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

  /** One line for the startup log. */
  describe(options: TaskSubprocessOptions): string {
    const choice = this.choose(options);
    if (choice.kind === 'none') return `no cgroups: ${choice.reason}`;
    if (choice.kind === 'v2') {
      return `cgroup v2 at ${join(choice.root, choice.slice)} (controllers: ${choice.controllers.join(', ') || 'none'})`;
    }
    return `cgroup v1 in ${[...choice.options.subsystems].join(', ') || 'freezer'} (slice ${choice.slice})`;
  }

  private auto(): ContainmentChoice {
    if (this.autoChoice) return this.autoChoice;
    const root = this.mounts.v2;
    if (!root) {
      this.autoChoice = { kind: 'none', reason: 'no cgroup2 hierarchy is mounted' };
    } else {
      const controllers = this.v2Controllers(root, DEFAULT_SLICE);
      const failure = this.v2Slices.get(join(root, DEFAULT_SLICE));
      this.autoChoice =
        failure instanceof ContainmentError
          ? { kind: 'none', reason: failure.message }
          : { kind: 'v2', root, slice: DEFAULT_SLICE, controllers };
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
