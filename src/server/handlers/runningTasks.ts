/** `running_tasks` and the deprecated `job_node_runtime`. */
import type { ApiContext, Handler } from '../apiContext.js';
import { ownChild, setOwn } from '../../text/ownKeys.js';

function runningFor(jobNames: readonly string[] | undefined, context: ApiContext) {
  const jobs = jobNames?.length ? new Set(jobNames) : undefined;
  return [...context.statuses.runningTasks()].filter((task) => !jobs || jobs.has(task.job));
}

export const runningTasks: Handler<'running_tasks'> = (args, context) => {
  const out: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const task of runningFor(args.jobs, context)) {
    const usage = context.usage(task.invocationId);
    setOwn(
      ownChild(out, task.job, () => ({})),
      task.node,
      {
        start_time: Math.floor(task.startTime),
        worker_shard: task.workerShard,
        invocation_id: task.invocationId,
        ...(Object.keys(usage).length > 0 ? { usage } : {}),
      },
    );
  }
  return out;
};

export const jobNodeRuntime: Handler<'job_node_runtime'> = (args, context) => {
  const now = Date.now() / 1000;
  const out: Record<string, Record<string, number>> = {};
  for (const task of runningFor(args.jobs, context))
    setOwn(
      ownChild(out, task.job, () => ({})),
      task.node,
      Math.floor(now - task.startTime),
    );
  return out;
};
