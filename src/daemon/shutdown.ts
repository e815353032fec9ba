/**
 * Ending every running task at a stop, in steps that always finish: each
 * task's kill request (the settings' for a job no longer in the config); then, after the largest kill_wait_ms plus a grace
 * (or at once when escalated by a second signal), SIGKILL of everything in
 * reach; then, after STOP_KILL_GRACE_MS, the tasks still not confirmed dead
 * are recorded as such and given up on.
 */
import type { Config } from '../config/config.js';
import type { KillRequest } from '../config/killRequest.js';
import type { RunningTask } from '../statuses/runningTask.js';
import type { Logger } from '../logging/logger.js';
import type { AbandonedTask, Runner } from '../runners/runner.js';
import { killRequestFor } from '../runners/taskControl.js';

/** Extra time, beyond the largest kill_wait_ms, that a graceful stop waits before SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000;
/** After SIGKILLing everything in reach, how long a stop waits before giving up on the rest. */
const STOP_KILL_GRACE_MS = 3_000;

export interface StopOptions {
  readonly graceMs: number;
  readonly escalated: Promise<void>;
  readonly logger: Logger;
}

export async function stopAllTasks(
  runner: Runner,
  config: Config,
  options: StopOptions,
): Promise<AbandonedTask[]> {
  const requests = [
    config.settings.killSubprocess,
    ...[...config.jobs.values()].map((j) => j.killSubprocess),
  ];
  return stopTasks(runner, (task) => killRequestFor(config, task.job), requests, options);
}

/** The steps above with each task's kill request from `requestFor`; `requests` bound the first wait. */
export async function stopTasks(
  runner: Runner,
  requestFor: (task: RunningTask) => KillRequest,
  requests: readonly KillRequest[],
  options: StopOptions,
): Promise<AbandonedTask[]> {
  const waits = requests
    .filter((request) => request.method === 'term_wait_kill')
    .map((request) => request.killWaitMs);
  const bound = Math.max(0, ...waits) + options.graceMs;
  let allDone = false;
  const done = runner.stopAll(requestFor, 'shutdown').then(() => {
    allDone = true;
  });
  await Promise.race([done, delay(bound), options.escalated]);
  if (allDone) return [];
  options.logger.warn('stopping: SIGKILL to every task process in reach');
  runner.killReachable('shutdown: SIGKILL after kill_wait_ms and the grace');
  await Promise.race([done, delay(STOP_KILL_GRACE_MS)]);
  const abandoned = allDone ? [] : runner.abandonAll('shutdown');
  await done;
  return abandoned;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
