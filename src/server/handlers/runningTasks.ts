/** `running_tasks` and the deprecated `job_node_runtime`. */
import type { RunningTask } from '../../statuses/runningTask.js';
import type { ApiContext, Handler } from '../apiContext.js';
import { ownChild, setOwn } from '../../text/ownKeys.js';

function runningFor(jobNames: readonly string[] | undefined, context: ApiContext) {
  const jobs = jobNames?.length ? new Set(jobNames) : undefined;
  return [...context.statuses.runningTasks()].filter((task) => !jobs || jobs.has(task.job));
}

/** `value` of each running task, by job and then node. */
function byJobAndNode<T>(
  jobNames: readonly string[] | undefined,
  context: ApiContext,
  value: (task: RunningTask) => T,
): Record<string, Record<string, T>> {
  const out: Record<string, Record<string, T>> = {};
  for (const task of runningFor(jobNames, context))
    setOwn(
      ownChild(out, task.job, () => ({})),
      task.node,
      value(task),
    );
  return out;
}

export const runningTasks: Handler<'running_tasks'> = (args, context) =>
  byJobAndNode(args.jobs, context, (task) => {
    const usage = context.usage(task.invocationId);
    return {
      start_time: Math.floor(task.startTime),
      worker_shard: task.workerShard,
      invocation_id: task.invocationId,
      ...(Object.keys(usage).length > 0 ? { usage } : {}),
    };
  });

export const jobNodeRuntime: Handler<'job_node_runtime'> = (args, context) => {
  const now = Date.now() / 1000;
  return byJobAndNode(args.jobs, context, (task) => Math.floor(now - task.startTime));
};
