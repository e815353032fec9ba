/** `jobs`: serialized jobs, invalid ones with their `errors`. */
import { serializeJob } from '../../config/job.js';
import { jobsOrAll, type Handler } from '../apiContext.js';

export const jobs: Handler<'jobs'> = (args, context) => {
  const config = context.config();
  const out: Record<string, unknown> = {};
  for (const name of jobsOrAll(args.jobs, context)) {
    const job = config.jobs.get(name);
    if (job) out[name] = serializeJob(job, config.settings);
  }
  return out;
};
