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
  return argvFor(start.job.name, start.job.command, start.node, taskArgument(start, previous), context);
}

/** The JSON argument but for where it runs (`worker_node`, `worker_host`): what a leader sends a worker. */
export function taskArgument(start: TaskStart, previous: TaskStatus | undefined): Record<string, unknown> {
  const job: Job = start.job;
  const argument: Record<string, unknown> = {
    id: job.name,
    path_to_node: start.pathToNode,
    config: job.config,
    resources_by_node: start.charges,
  };
  if (previous) argument.prev_status = statusJson(previous);
  return argument;
}

/** The job's command (else the runner's --worker-command), the node, the status pipe and the argument. */
export function argvFor(
  job: string,
  jobCommand: readonly string[],
  node: string,
  argument: Readonly<Record<string, unknown>>,
  context: TaskArgumentContext,
): string[] {
  const command = jobCommand.length > 0 ? jobCommand : context.workerCommand;
  if (command.length === 0) throw new NoCommandError(job);
  const full = { ...argument, worker_node: context.instanceNode, worker_host: context.hostname };
  return [...command, node, STATUS_PIPE_PATH, JSON.stringify(full)];
}
