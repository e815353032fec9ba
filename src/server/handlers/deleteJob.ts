/** `delete_job`: removes a job from the config file (picked up at the next poll). */
import type { Handler } from '../apiContext.js';
import { NotFoundError } from '../apiErrors.js';

export const deleteJob: Handler<'delete_job'> = async ({ job_id }, context) => {
  if (!(await context.configWriter.deleteJob(job_id))) throw new NotFoundError(`Unknown job ${job_id}`);
  return 'deleted';
};
