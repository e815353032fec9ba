/**
 * The task protocol: argv is the job's `command` (or
 * the scheduler's `--worker-command`), then the node name, the status pipe
 * path and a JSON argument.
 */
import type { Job } from '../config/job.js';
import type { TaskStart } from '../scheduler/pass.js';
import { statusJson, type TaskStatus } from '../statuses/taskStatus.js';
import { STATUS_PIPE_PATH } from '../supervisor/taskSpec.js';

export interface TaskArgumentContext {
  readonly workerCommand: readonly string[];
  /** The instance node's name (`worker_node` for a local runner). */
  readonly instanceNode: string;
  readonly hostname: string;
}

export class NoCommandError extends Error {
  constructor(job: string) {
    super(`job ${job} has no "command" and the scheduler has no --worker-command`);
    this.name = 'NoCommandError';
  }
}

export function taskArgv(
  start: TaskStart,
  previous: TaskStatus | undefined,
  context: TaskArgumentContext,
): string[] {
  const job: Job = start.job;
  const command = job.command.length > 0 ? job.command : context.workerCommand;
  if (command.length === 0) throw new NoCommandError(job.name);
  const argument: Record<string, unknown> = {
    id: job.name,
    path_to_node: start.pathToNode,
    config: job.config,
    resources_by_node: start.charges,
    worker_node: context.instanceNode,
    worker_host: context.hostname,
  };
  if (previous) argument.prev_status = statusJson(previous);
  return [...command, start.node, STATUS_PIPE_PATH, JSON.stringify(argument)];
}
