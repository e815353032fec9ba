/** `running_tasks` and the deprecated `job_node_runtime`. */
import type { Handler, HandlerArgs } from '../apiContext.js';
import type { ApiContext } from '../apiContext.js';

function runningFor(args: HandlerArgs, context: ApiContext) {
  const jobs =
    Array.isArray(args['jobs']) && args['jobs'].length > 0 ? new Set(args['jobs'] as string[]) : undefined;
  return [...context.statuses.runningTasks()].filter((task) => !jobs || jobs.has(task.job));
}

export const runningTasks: Handler = {
  mutating: false,
  run: (args, context) => {
    const out: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const task of runningFor(args, context)) {
      const usage = context.usage(task.invocationId);
      (out[task.job] ??= {})[task.node] = {
        start_time: Math.floor(task.startTime),
        worker_shard: task.workerShard,
        invocation_id: task.invocationId,
        ...(Object.keys(usage).length > 0 ? { usage } : {}),
      };
    }
    return out;
  },
};

export const jobNodeRuntime: Handler = {
  mutating: false,
  run: (args, context) => {
    const now = Date.now() / 1000;
    const out: Record<string, Record<string, number>> = {};
    for (const task of runningFor(args, context))
      (out[task.job] ??= {})[task.node] = Math.floor(now - task.startTime);
    return out;
  },
};
