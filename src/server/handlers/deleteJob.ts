/** `delete_job`: removes a job from the config file (picked up at the next poll). */
import { stringArg, type Handler } from '../apiContext.js';

export const deleteJob: Handler = {
  mutating: true,
  run: async (args, context) => {
    await context.configWriter.deleteJob(stringArg(args, 'job_id'));
    return 'deleted';
  },
};
