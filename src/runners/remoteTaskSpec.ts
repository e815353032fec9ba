/**
 * What a leader writes into a dispatched task's row for the worker that
 * will run it, and how the worker turns it back into a launch: the job's
 * command, the task's JSON argument (the worker adds `worker_node` and
 * `worker_host`), the job's `task_subprocess` and `kill_subprocess`, and
 * the cgroup limits the leader derived from `physical_resources` (with the
 * worker's own charges). The worker parses the options with the config's
 * own readers and compiles them with its own containment, so a worker
 * enforces exactly what a local runner would.
 */
import { z } from 'zod';
import type { KillRequest } from '../config/killRequest.js';
import { DEFAULT_KILL_REQUEST, readKillRequest, serializeKillRequest } from '../config/killRequest.js';
import { ObjectReader, newIssueSink } from '../config/reader.js';
import {
  DEFAULT_TASK_SUBPROCESS,
  readTaskSubprocess,
  serializeTaskSubprocess,
} from '../config/taskSubprocess.js';
import { summarizeIssues } from '../config/settings.js';
import type { TaskStart } from '../scheduler/pass.js';
import type { TaskStatus } from '../statuses/taskStatus.js';
import type { ContainmentFactory } from '../supervisor/containment/containmentFactory.js';
import { limitsFor, type CgroupLimits } from '../supervisor/containment/limits.js';
import { compileLaunchPlan, type CompiledPlan } from '../supervisor/launchPlan.js';
import type { Settings } from '../config/settings.js';
import type { ResourceCharges } from '../statuses/runningTask.js';
import { argvFor, taskArgument, type TaskArgumentContext } from './taskArguments.js';
import type { LaunchInput } from './localRunner.js';

const specSchema = z.object({
  command: z.array(z.string()),
  node: z.string(),
  argument: z.record(z.string(), z.unknown()),
  task_subprocess: z.record(z.string(), z.unknown()),
  kill_subprocess: z.record(z.string(), z.unknown()),
  /** Named in the completion's notice (RunningTask.completionToken); absent from older leaders. */
  completion_token: z.string().max(128).optional(),
  limits: z.object({
    memoryBytes: z.number().positive().optional(),
    cpuCores: z.number().positive().optional(),
    pidsMax: z.number().int().positive().optional(),
  }),
});

export type RemoteTaskSpec = z.infer<typeof specSchema>;

export class RemoteTaskSpecError extends Error {
  constructor(invocationId: string, problem: string) {
    super(`the dispatched task ${invocationId} cannot be run: ${problem}`);
    this.name = 'RemoteTaskSpecError';
  }
}

/**
 * The spec of a task the leader dispatches: `charges` are the task's
 * (node and worker resources), from which the physical limits are derived;
 * `completionToken` is what its completion notice must name.
 */
export function remoteTaskSpec(
  start: TaskStart,
  previous: TaskStatus | undefined,
  charges: ResourceCharges,
  settings: Settings,
  completionToken: string,
): RemoteTaskSpec {
  const { job } = start;
  const amounts: Record<string, number> = {};
  for (const resources of Object.values(charges))
    for (const [name, amount] of Object.entries(resources)) amounts[name] = (amounts[name] ?? 0) + amount;
  const limits = limitsFor(settings.physicalResources, amounts, job.taskSubprocess.cgroups?.pidsMax ?? 0);
  return {
    command: [...job.command],
    node: start.node,
    argument: { ...taskArgument(start, previous), resources_by_node: charges },
    task_subprocess: serializeTaskSubprocess(job.taskSubprocess),
    kill_subprocess: serializeKillRequest(job.killSubprocess),
    limits: { ...limits },
    completion_token: completionToken,
  };
}

/** Turns dispatched specs into launches; plans are compiled once per distinct options and limits. */
export class RemoteLaunches {
  private readonly plans = new Map<string, CompiledPlan>();

  constructor(
    private readonly factory: ContainmentFactory,
    private readonly context: TaskArgumentContext,
  ) {}

  /**
   * The launch of a row's spec, with the job's kill request; throws
   * RemoteTaskSpecError when it is not a spec. Plans compile once per
   * distinct options and limits (one job's tasks share one).
   */
  inputFor(
    invocationId: string,
    job: string,
    raw: unknown,
  ): LaunchInput & { readonly killRequest: KillRequest; readonly completionToken?: string } {
    const parsed = specSchema.safeParse(raw);
    if (!parsed.success) throw new RemoteTaskSpecError(invocationId, parsed.error.message);
    const spec = parsed.data;
    const compiled = this.compile(spec);
    return {
      killRequest: compiled.plan?.killRequest ?? DEFAULT_KILL_REQUEST,
      ...(spec.completion_token !== undefined ? { completionToken: spec.completion_token } : {}),
      argv: () => argvFor(job, spec.command, spec.node, spec.argument, this.context),
      plan: () => {
        if (compiled.problem !== undefined) throw new RemoteTaskSpecError(invocationId, compiled.problem);
        return compiled.plan;
      },
    };
  }

  private compile(spec: RemoteTaskSpec): CompiledPlan {
    const key = JSON.stringify([spec.task_subprocess, spec.kill_subprocess, spec.limits]);
    let compiled = this.plans.get(key);
    if (!compiled) {
      const options = readOptions(spec);
      compiled =
        options.problem !== undefined
          ? { problem: options.problem }
          : compileLaunchPlan(
              this.factory,
              options.taskSubprocess,
              spec.limits as CgroupLimits,
              options.killRequest,
            );
      this.plans.set(key, compiled);
    }
    return compiled;
  }
}

function readOptions(spec: RemoteTaskSpec) {
  const sink = newIssueSink();
  const reader = new ObjectReader(
    { task_subprocess: spec.task_subprocess, kill_subprocess: spec.kill_subprocess },
    [],
    sink,
  );
  const taskSubprocess = readTaskSubprocess(reader, DEFAULT_TASK_SUBPROCESS);
  const killRequest = readKillRequest(reader, DEFAULT_KILL_REQUEST);
  const problem = sink.errors.length > 0 ? summarizeIssues(sink.errors) : undefined;
  return { taskSubprocess, killRequest, problem };
}
