/**
 * Keys that do nothing with the runner in use: a warning each, never
 * silence. Worker resources, their overrides, host placement and worker
 * filters only mean something when tasks are placed on workers
 * (`--runner remote`); tasks at the worker level run nowhere yet.
 */
import type { Config } from './config.js';
import { JOB_PREFIX } from './config.js';
import type { ConfigIssue } from './issues.js';

export type RunnerMode = 'local' | 'remote';

/**
 * The warnings of `config` under `mode`. Without `includeSettings`, only
 * those of its jobs: a shared config changes job by job, and the settings'
 * warnings were given when the settings came.
 */
export function runnerModeWarnings(config: Config, mode: RunnerMode, includeSettings = true): ConfigIssue[] {
  const { settings } = config;
  const workerLevel = settings.levels.length - 1;
  const worker = settings.levels[workerLevel]!;
  const warnings: ConfigIssue[] = [];
  const warn = (path: (string | number)[], message: string) =>
    warnings.push({ path, message, kind: 'invalid' });
  if (mode === 'local') {
    const localOnly = 'has no effect with the local runner (it places tasks on workers: --runner remote)';
    if (includeSettings) {
      for (const resource of settings.resources)
        if (resource.levelId === workerLevel)
          warn(['bistro_settings', 'resources', worker, resource.name], `a worker resource ${localOnly}`);
      if (Object.keys(settings.workerResourcesOverride).length > 0)
        warn(['bistro_settings', 'worker_resources_override'], localOnly);
    }
    for (const job of config.jobs.values()) {
      const path = `${JOB_PREFIX}${job.name}`;
      if (job.hostPlacement !== '') warn([path, 'host_placement'], localOnly);
      if (job.levelForHostPlacement !== undefined && job.levelForHostPlacement >= 0)
        warn([path, 'level_for_host_placement'], localOnly);
      if (job.filters[worker]) warn([path, 'filters', worker], localOnly);
    }
  }
  for (const job of config.jobs.values())
    if (job.levelForTasks === workerLevel)
      warn(
        [`${JOB_PREFIX}${job.name}`, 'level_for_tasks'],
        'tasks at the worker level are not run by this version; the job starts no task',
      );
  return warnings;
}
