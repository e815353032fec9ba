/**
 * The launch plan of each job, compiled once per config version: a job
 * object is immutable and a new config makes new ones, so plans are cached
 * by job object and the next version compiles afresh. Settings-level plans
 * (for jobs deleted from the config, and for recovery) are cached likewise.
 */
import type { Job } from '../config/job.js';
import type { Settings } from '../config/settings.js';
import type { ContainmentFactory } from '../supervisor/containment/containmentFactory.js';
import { limitsFor } from '../supervisor/containment/limits.js';
import { compileLaunchPlan, type CompiledPlan, type LaunchPlan } from '../supervisor/launchPlan.js';

export class LaunchPlanError extends Error {
  constructor(
    readonly job: string,
    message: string,
  ) {
    super(message);
    this.name = 'LaunchPlanError';
  }
}

export class LaunchPlans {
  private readonly byJob = new WeakMap<Job, CompiledPlan>();
  private readonly bySettings = new WeakMap<Settings, CompiledPlan>();
  /** Containment descriptions already logged. */
  private readonly described = new Set<string>();

  constructor(private readonly factory: ContainmentFactory) {}

  /** The job's plan, or why its limits cannot be enforced here. */
  compile(job: Job, settings: Settings): CompiledPlan {
    let compiled = this.byJob.get(job);
    if (!compiled) {
      const limits = limitsFor(
        settings.physicalResources,
        job.resources,
        job.taskSubprocess.cgroups?.pidsMax ?? 0,
      );
      compiled = compileLaunchPlan(this.factory, job.taskSubprocess, limits, job.killSubprocess);
      this.byJob.set(job, compiled);
    }
    return compiled;
  }

  /** The plan for a valid job (one the config loader accepted); throws LaunchPlanError otherwise. */
  for(job: Job, settings: Settings): LaunchPlan {
    const compiled = this.compile(job, settings);
    if (compiled.problem !== undefined) throw new LaunchPlanError(job.name, compiled.problem);
    return compiled.plan;
  }

  /** The settings' own plan (no job limits). */
  forSettings(settings: Settings): LaunchPlan {
    let compiled = this.bySettings.get(settings);
    if (!compiled) {
      compiled = compileLaunchPlan(this.factory, settings.taskSubprocess, {}, settings.killSubprocess);
      this.bySettings.set(settings, compiled);
    }
    if (compiled.problem !== undefined) throw new LaunchPlanError('', compiled.problem);
    return compiled.plan;
  }

  /** Containment descriptions of these plans not logged before: each is logged once. */
  newDescriptions(plans: readonly LaunchPlan[]): string[] {
    const fresh = [...new Set(plans.map((plan) => plan.description))].filter((d) => !this.described.has(d));
    for (const description of fresh) this.described.add(description);
    return fresh;
  }
}
