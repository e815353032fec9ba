/** `delete_job`: removes a job from the config (the file, or the database's shared config). */
import type { Handler } from '../apiContext.js';
import { NotFoundError } from '../apiErrors.js';
import { configWrite } from './configWrite.js';

export const deleteJob: Handler<'delete_job'> = async ({ job_id }, context, { actor }) => {
  if (!(await configWrite(() => context.configWriter.deleteJob(job_id, { actor }))))
    throw new NotFoundError(`Unknown job ${job_id}`);
  return 'deleted';
};
