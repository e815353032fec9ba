/** `forgive_jobs`: failed and backed-off tasks of these jobs may run again; persisted. */
import type { Handler } from '../apiContext.js';

export const forgiveJobs: Handler<'forgive_jobs'> = ({ jobs }, context) => {
  for (const job of jobs ?? []) context.forgive(job);
  return 'forgiven';
};
