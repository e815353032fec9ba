/** What a config load tells the operator: one line per load naming the invalid jobs, one warning per invalid job. */
import type { Config } from '../config/config.js';
import { formatIssue } from '../config/issues.js';
import type { Logger } from '../logging/logger.js';

export function logConfigLoaded(logger: Logger, config: Config, generation: number): void {
  const invalid = [...config.jobs.values()].filter((job) => job.errors !== undefined);
  logger.info(
    { jobs: config.jobs.size, invalid: invalid.map((job) => job.name), generation },
    invalid.length > 0 ? `config loaded; ${invalid.length} invalid job(s) will not run` : 'config loaded',
  );
  for (const job of invalid)
    logger.warn({ job: job.name, errors: job.issues.map(formatIssue) }, 'invalid job');
}
