/** `kill_task`: sends the job's kill request to a running task. */
import type { Handler } from '../apiContext.js';

export const killTask: Handler<'kill_task'> = ({ job_id, node_id }, context) => {
  context.killTask(job_id, node_id);
  return 'signaled';
};
