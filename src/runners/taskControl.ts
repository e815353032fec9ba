/**
 * Task control by name, shared by every runner: killing a running task with
 * its job's kill request (the settings' for a job no longer in the config,
 * as the orphan killer does), and forgiving a job.
 */
import type { Config } from '../config/config.js';
import type { KillRequest } from '../config/killRequest.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { KillOutcome } from '../supervisor/taskSpec.js';

/** A job or running task that does not exist. */
export class UnknownTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownTaskError';
  }
}

/** The kill request for a task of `job`: its own, or the settings' for a deleted job. */
export function killRequestFor(config: Config, job: string): KillRequest {
  return (config.jobs.get(job) ?? config.settings).killSubprocess;
}

/** Sends the task's kill request; throws UnknownTaskError when no such task runs. */
export function killTaskByName(
  runner: { kill(invocationId: string, request: KillRequest, reason: string): KillOutcome },
  statuses: TaskStatuses,
  config: Config,
  job: string,
  node: string,
  reason: string,
): KillOutcome & { readonly invocationId: string; readonly request: KillRequest } {
  const task = statuses.runningTask(job, node);
  if (!task) throw new UnknownTaskError(`Unknown running task ${job}, ${node}`);
  const request = killRequestFor(config, job);
  return { ...runner.kill(task.invocationId, request, reason), invocationId: task.invocationId, request };
}

/** Failed and backed-off tasks of `job` may run again; throws UnknownTaskError for a job never seen. */
export function forgiveJob(statuses: TaskStatuses, config: Config, job: string): void {
  if (!config.jobs.has(job) && !statuses.table(job)) throw new UnknownTaskError(`Invalid job id: ${job}`);
  statuses.forgive(job);
}
