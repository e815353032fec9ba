/** What REST handlers may read and do; the daemon provides it. */
import type { Config } from '../config/config.js';
import type { ConfigWriter } from '../config/configWriter.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import type { EligibilityCache } from '../scheduler/eligibility.js';
import type { NodeIndex } from '../scheduler/nodeIndex.js';
import type { JobHistogram } from '../scheduler/histogram.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { SqliteDatabase } from '../store/database.js';
import type { TaskUsage } from '../supervisor/taskSpec.js';

export interface ApiContext {
  config(): Config;
  nodes(): NodeSet | undefined;
  /** The scheduler's index of a node set (interned names, path flags). */
  nodeIndex(nodes: NodeSet): NodeIndex;
  /** The scheduler's cached eligibility masks. */
  readonly eligibility: EligibilityCache;
  readonly statuses: TaskStatuses;
  /** The error registry, `{key: messages}`. */
  errors(): Record<string, string>;
  /** Histograms of the last monitor pass (recomputed at most every few seconds). */
  histograms(): { readonly time: number; readonly byJob: ReadonlyMap<string, JobHistogram> };
  /** Sends the job's kill request to the running task; returns a message. */
  killTask(job: string, node: string): string;
  /** Forgives a job's statuses; throws ApiError for a job never seen. */
  forgive(job: string): void;
  usage(invocationId: string): TaskUsage;
  readonly logDb: SqliteDatabase;
  /** Flushes queued log lines so a query sees them. */
  flushLogs(): void;
  readonly configWriter: ConfigWriter;
  /** Whether save_job may set or change a job's command. */
  readonly allowCommand: boolean;
}

/** A handler's failure, reported as the query's `error`. */
export class ApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export type HandlerArgs = Readonly<Record<string, unknown>>;

export interface Handler {
  /** Changes state: needs the bearer token when one is configured. */
  readonly mutating: boolean;
  run(args: HandlerArgs, context: ApiContext): unknown;
}

/** The `jobs` argument: missing or empty means all jobs in the config. */
export function jobsArg(args: HandlerArgs, context: ApiContext): string[] {
  const jobs = args['jobs'];
  if (jobs === undefined || (Array.isArray(jobs) && jobs.length === 0))
    return [...context.config().jobs.keys()];
  if (!Array.isArray(jobs) || !jobs.every((j) => typeof j === 'string'))
    throw new ApiError('"jobs" must be an array of job names');
  return jobs as string[];
}

export function stringArg(args: HandlerArgs, name: string): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '') throw new ApiError(`"${name}" must be a non-empty string`);
  return value;
}
