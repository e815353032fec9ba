/**
 * `save_job`: writes a job to the config: the file (picked up at the next
 * poll) or the database's shared config (every scheduler is notified).
 * A job with errors is refused. What decides which code runs and how it is
 * contained (`command`, and the supervision keys of `task_subprocess`) may
 * be set, changed or dropped only when the operator allowed it
 * (`--api-allow-command`): through the API, those are code execution and
 * escape from supervision.
 */
import { isDeepStrictEqual } from 'node:util';
import { formatIssue } from '../../config/issues.js';
import { parseJob } from '../../config/job.js';
import { isPlainObject } from '../../config/reader.js';
import type { Handler } from '../apiContext.js';
import { ApiError } from '../apiErrors.js';
import { configWrite } from './configWrite.js';

/** `task_subprocess` keys that decide containment and supervision. */
const SUPERVISION_KEYS = [
  'cgroups',
  'process_group_leader',
  'use_canary_pipe',
  'pid_namespace',
  'parent_death_signal',
] as const;

/** The protected parts of a job object, for comparison. */
function protectedParts(job: Record<string, unknown> | undefined): Record<string, unknown> {
  const subprocess = isPlainObject(job?.['task_subprocess']) ? job['task_subprocess'] : {};
  return {
    command: job?.['command'],
    ...Object.fromEntries(SUPERVISION_KEYS.map((key) => [`task_subprocess.${key}`, subprocess[key]])),
  };
}

export const saveJob: Handler<'save_job'> = async ({ job_id: name, job }, context, { actor }) => {
  const parsed = parseJob(name, job, context.config().settings);
  if (parsed.issues.length > 0)
    throw new ApiError(`invalid job: ${parsed.issues.map(formatIssue).join('; ')}`);
  await configWrite(() =>
    context.configWriter.saveJob(name, job, {
      actor,
      guard: (previous) => refuseProtectedChanges(job, previous, context.allowCommand),
    }),
  );
  return 'saved';
};

/** Throws 403 if the change sets, changes or drops a protected part without --api-allow-command. */
export function refuseProtectedChanges(
  job: Record<string, unknown> | undefined,
  previous: Record<string, unknown> | undefined,
  allowCommand: boolean,
): void {
  if (allowCommand) return;
  const wanted = protectedParts(job);
  const current = protectedParts(previous);
  const changed = Object.keys(wanted).filter((key) => !isDeepStrictEqual(wanted[key], current[key]));
  if (changed.length > 0) {
    throw new ApiError(
      `save_job may not set, change or drop ${changed.map((key) => `"${key}"`).join(', ')} ` +
        '(start the scheduler with --api-allow-command to permit it)',
      403,
    );
  }
}
