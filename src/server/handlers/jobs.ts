/** `jobs`: serialized jobs (reference §2.15), invalid ones with their `errors`. */
import { serializeJob } from '../../config/job.js';
import { jobsArg, type Handler } from '../apiContext.js';

export const jobs: Handler = {
  mutating: false,
  run: (args, context) => {
    const config = context.config();
    const out: Record<string, unknown> = {};
    for (const name of jobsArg(args, context)) {
      const job = config.jobs.get(name);
      if (job) out[name] = serializeJob(job, config.settings);
    }
    return out;
  },
};
