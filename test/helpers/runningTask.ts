import type { RunningTask } from '../../src/statuses/runningTask.js';

/** A running task of job `j` for the store tests. */
export function runningTask(invocationId: string, node = 'n1'): RunningTask {
  return {
    job: 'j',
    node,
    invocationId,
    startTime: 1000.5,
    charges: { inst: { slots: 1 } },
    backoff: { next: { seconds: 5, noMoreBackoffs: false }, previousProgressSec: 0 },
    workerShard: 'local',
  };
}
