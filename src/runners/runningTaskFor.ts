/** The RunningTask a runner records for a start the pass chose. */
import type { TaskStart } from '../scheduler/pass.js';
import type { RunningTask } from '../statuses/runningTask.js';
import { newInvocationId } from './invocationId.js';

export function runningTaskFor(start: TaskStart, now: number): RunningTask {
  return {
    job: start.job.name,
    node: start.node,
    invocationId: newInvocationId(now * 1000),
    startTime: now,
    charges: start.charges,
    backoff: start.backoff,
    workerShard: 'local',
  };
}
