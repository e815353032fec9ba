/**
 * `save_job`: writes a job to the config file (picked up at the next poll).
 * A job with errors is refused, and so is setting or changing `command`
 * unless the operator allowed it: a job's command is code execution.
 */
import { formatIssue } from '../../config/issues.js';
import { parseJob } from '../../config/job.js';
import { isPlainObject } from '../../config/reader.js';
import { isDeepStrictEqual } from 'node:util';
import { ApiError, stringArg, type Handler } from '../apiContext.js';

export const saveJob: Handler = {
  mutating: true,
  run: async (args, context) => {
    const name = stringArg(args, 'job_id');
    const job = args['job'];
    if (!isPlainObject(job)) throw new ApiError('"job" must be a job object');
    const parsed = parseJob(name, job, context.config().settings);
    if (parsed.issues.length > 0)
      throw new ApiError(`invalid job: ${parsed.issues.map(formatIssue).join('; ')}`);
    const existing = context.configWriter.readJob(name);
    if (
      !context.allowCommand &&
      'command' in job &&
      !isDeepStrictEqual(job['command'], existing?.['command'])
    ) {
      throw new ApiError(
        'save_job may not set or change "command" (start the scheduler with --api-allow-command to permit it)',
      );
    }
    await context.configWriter.saveJob(name, job);
    return 'saved';
  },
};
