import { parseConfig, type Config } from '../../src/config/config.js';

/** A minimal valid config with two levels; `settings` and `jobs` are merged in. */
export function configObject(
  settings: Record<string, unknown> = {},
  jobs: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    bistro_settings: {
      enabled: true,
      nodes: { levels: ['host', 'db'], node_sources: [] },
      resources: {
        instance: { instance_concurrency: { limit: 8, default: 1 } },
        host: { host_concurrency: { limit: 2, default: 1 } },
      },
      ...settings,
    },
  };
  for (const [name, job] of Object.entries(jobs)) out[`bistro_job->${name}`] = job;
  return out;
}

export function config(settings: Record<string, unknown> = {}, jobs: Record<string, unknown> = {}): Config {
  return parseConfig(configObject(settings, jobs));
}
