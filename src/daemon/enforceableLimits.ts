/**
 * Limits the host cannot enforce are a config problem, found when the config
 * loads: a job whose hard memory limit, CPU weight or `pids_max` needs a
 * cgroup controller that neither the chosen hierarchy nor cgroup v1 offers
 * is marked invalid with a message naming the controller and the fix. Its
 * tasks then never start (and never fail at launch), and the other jobs go on.
 */
import type { Config } from '../config/config.js';
import type { Job } from '../config/job.js';
import type { LaunchPlans } from '../runners/launchPlans.js';

/** Compiles every valid job's launch plan (cached for its launches); a job whose plan fails is marked invalid. */
export function withEnforceableLimits(config: Config, plans: LaunchPlans): Config {
  let jobs: Map<string, Job> | undefined;
  for (const job of config.jobs.values()) {
    if (job.errors !== undefined) continue;
    const problem = plans.compile(job, config.settings).problem;
    if (problem === undefined) continue;
    jobs ??= new Map(config.jobs);
    jobs.set(job.name, {
      ...job,
      errors: { key_errors: { task_subprocess: problem } },
      issues: [...job.issues, { path: ['task_subprocess'], message: problem, kind: 'invalid' }],
    });
  }
  return jobs ? { ...config, jobs } : config;
}
