/** What REST handlers may read and do; the daemon provides it. */
import type { Config } from '../config/config.js';
import type { ConfigWrites } from '../config/configWrites.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import type { EligibilityCache } from '../scheduler/eligibility.js';
import type { NotRunningReasons } from '../scheduler/notRunningReasons.js';
import type { Job } from '../config/job.js';
import type { NodeIndex } from '../scheduler/nodeIndex.js';
import type { JobHistogram } from '../scheduler/histogram.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { LogPage, LogQuery } from '../store/taskLogQueries.js';
import type { TaskUsage } from '../supervisor/taskSpec.js';
import type { WorkerRow } from '../store/postgres/remoteTasks.js';
import type { RouteArgs, RouteName } from './routes.js';

/** A scheduler's role on a shared database. */
export interface Leadership {
  readonly leads: boolean;
  readonly term: number | undefined;
  readonly leader: { readonly name: string | null; readonly apiUrl: string | null } | undefined;
}

export interface ApiContext {
  config(): Config;
  nodes(): NodeSet | undefined;
  /** The scheduler's index of a node set (interned names, path flags). */
  nodeIndex(nodes: NodeSet): NodeIndex;
  /** Why the job's tasks did not start in the last pass; undefined before a pass over the current nodes. */
  notRunning(job: Job): NotRunningReasons | undefined;
  /** The scheduler's cached eligibility masks. */
  readonly eligibility: EligibilityCache;
  readonly statuses: TaskStatuses;
  /** The error registry, `{key: messages}`. */
  errors(): Record<string, string>;
  /** Histograms of the last monitor pass (recomputed at most every few seconds). */
  histograms(): { readonly time: number; readonly byJob: ReadonlyMap<string, JobHistogram> };
  /** Sends the job's kill request (the settings' for a deleted job) to the running task; returns what was done. */
  killTask(job: string, node: string): string;
  /** Forgives a job's statuses; throws ApiError for a job never seen. */
  forgive(job: string): void;
  usage(invocationId: string): TaskUsage;
  /** Reads task logs (queued lines first written, so a query sees them). */
  queryLogs(query: LogQuery): LogPage | Promise<LogPage>;
  /** Changes jobs and settings: in the config file, or in the database with --config-in-database. */
  readonly configWriter: ConfigWrites;
  /** Role on a shared database; undefined for an embedded scheduler (always the leader). */
  leadership(): Leadership | undefined;
  /** The worker registry (a shared database only). */
  workers?(): Promise<readonly WorkerRow[]>;
  /** What each healthy worker has left of its worker resources now (the leader's view), by name. */
  workersAvailable?(): ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** Whether save_job may set or change a job's command, and save_settings may run at all. */
  readonly allowCommand: boolean;
}

/** Who sent a query. */
export interface Caller {
  /** A token's name, or "api" when the API has no token. */
  readonly actor: string;
}

/** One handler: its arguments were validated against its route (routes.ts). */
export type Handler<N extends RouteName> = (
  args: RouteArgs<N>,
  context: ApiContext,
  caller: Caller,
) => unknown;

/** The `jobs` argument: missing or empty means all jobs in the config. */
export function jobsOrAll(jobs: readonly string[] | undefined, context: ApiContext): readonly string[] {
  return jobs === undefined || jobs.length === 0 ? [...context.config().jobs.keys()] : jobs;
}
