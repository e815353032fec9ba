/** What a config load tells the operator: one line per load naming the invalid jobs, one warning per invalid job. */
import type { Config } from '../config/config.js';
import { formatIssue } from '../config/issues.js';
import type { Logger } from '../logging/logger.js';

/** One line about `config`; a warning for each invalid job of `changed` (what is new since the last load). */
export function logConfigLoaded(logger: Logger, config: Config, changed: Config, generation: number): void {
  const invalid = [...config.jobs.values()].filter((job) => job.errors !== undefined);
  logger.info(
    { jobs: config.jobs.size, invalid: invalid.map((job) => job.name), generation },
    invalid.length > 0 ? `config loaded; ${invalid.length} invalid job(s) will not run` : 'config loaded',
  );
  for (const job of changed.jobs.values()) {
    if (job.errors === undefined) continue;
    logger.warn({ job: job.name, errors: job.issues.map(formatIssue) }, 'invalid job');
  }
}
