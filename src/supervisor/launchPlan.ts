/**
 * Everything about how a job's tasks are launched, resolved once per config
 * version: the `task_subprocess` options (launcher flags, log quota,
 * process-group policy), the containment choice, the cgroup limits, the
 * unkillable timeout and the kill request. Immutable; the runner starts
 * every task of the job with it and nothing re-derives any of it.
 */
import type { KillRequest } from '../config/killRequest.js';
import { DEFAULT_CGROUP_OPTIONS, type TaskSubprocessOptions } from '../config/taskSubprocess.js';
import type { ContainmentChoice, ContainmentFactory } from './containment/containmentFactory.js';
import type { CgroupLimits } from './containment/limits.js';

export interface LaunchPlan {
  readonly options: TaskSubprocessOptions;
  readonly containment: ContainmentChoice;
  readonly limits: CgroupLimits;
  readonly processGroupLeader: boolean;
  readonly unkillableTimeoutSec: number;
  readonly killRequest: KillRequest;
  /** The containment in words, for the log. */
  readonly description: string;
}

/** A plan, or why the host cannot launch tasks so (a limit no available controller enforces). */
export type CompiledPlan =
  | { readonly plan: LaunchPlan; readonly problem?: undefined }
  | { readonly plan?: undefined; readonly problem: string };

export function compileLaunchPlan(
  factory: ContainmentFactory,
  options: TaskSubprocessOptions,
  limits: CgroupLimits,
  killRequest: KillRequest,
): CompiledPlan {
  const containment = factory.choose(options);
  const problem = factory.problemWith(containment, options, limits);
  if (problem !== undefined) return { problem };
  return {
    plan: Object.freeze({
      options,
      containment,
      limits,
      processGroupLeader: options.processGroupLeader,
      unkillableTimeoutSec: (options.cgroups ?? DEFAULT_CGROUP_OPTIONS).unkillableTimeoutSec,
      killRequest,
      description: factory.describeChoice(containment),
    }),
  };
}
