/** `forgive_jobs`: failed and backed-off tasks of these jobs may run again; persisted. */
import { ApiError, type Handler } from '../apiContext.js';

export const forgiveJobs: Handler = {
  mutating: true,
  run: (args, context) => {
    const jobs = args['jobs'];
    if (jobs === undefined) return 'forgiven';
    if (!Array.isArray(jobs)) throw new ApiError('"jobs" must be an array of job names');
    for (const job of jobs) context.forgive(String(job));
    return 'forgiven';
  },
};
