/** `kill_task`: sends the job's kill request to a running task; answers what was done. */
import type { Handler } from '../apiContext.js';

export const killTask: Handler<'kill_task'> = ({ job_id, node_id }, context) => {
  return context.killTask(job_id, node_id);
};
