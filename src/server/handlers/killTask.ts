/** `kill_task`: sends the job's kill request to a running task. */
import { stringArg, type Handler } from '../apiContext.js';

export const killTask: Handler = {
  mutating: true,
  run: (args, context) => {
    context.killTask(stringArg(args, 'job_id'), stringArg(args, 'node_id'));
    return 'signaled';
  },
};
