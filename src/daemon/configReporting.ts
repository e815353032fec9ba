/** What a config load tells the operator: one line per load naming the invalid jobs, one warning per invalid job. */
import type { Config } from '../config/config.js';
import { formatIssue } from '../config/issues.js';
import type { Logger } from '../logging/logger.js';

/** With `previous`, only jobs that changed since it are warned about again (a shared config changes job by job). */
export function logConfigLoaded(logger: Logger, config: Config, generation: number, previous?: Config): void {
  const invalid = [...config.jobs.values()].filter((job) => job.errors !== undefined);
  logger.info(
    { jobs: config.jobs.size, invalid: invalid.map((job) => job.name), generation },
    invalid.length > 0 ? `config loaded; ${invalid.length} invalid job(s) will not run` : 'config loaded',
  );
  for (const job of invalid) {
    if (previous?.jobs.get(job.name) === job) continue;
    logger.warn({ job: job.name, errors: job.issues.map(formatIssue) }, 'invalid job');
  }
}
