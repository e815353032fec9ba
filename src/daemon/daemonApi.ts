/**
 * What the REST handlers may read and do, wired to the daemon's parts. Task
 * control goes through the runner; a task or job that does not exist is a
 * 404, a kill the task refuses a 409.
 */
import type { Config } from '../config/config.js';
import type { ConfigWrites } from '../config/configWrites.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import type { Runner } from '../runners/runner.js';
import { UnknownTaskError } from '../runners/taskControl.js';
import type { Scheduler } from '../scheduler/pass.js';
import { NotRunningReasons } from '../scheduler/notRunningReasons.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { TaskLogs } from '../store/taskLogStore.js';
import type { ApiContext } from '../server/apiContext.js';
import { ApiError, NotFoundError } from '../server/apiErrors.js';
import type { SchedulerMetrics } from '../server/metrics.js';
import type { ErrorRegistry } from './errorRegistry.js';
import type { HistogramCache } from './histogramCache.js';

export interface DaemonApiParts {
  readonly config: () => Config;
  readonly nodes: () => NodeSet | undefined;
  readonly scheduler: Scheduler;
  readonly statuses: TaskStatuses;
  readonly errors: ErrorRegistry;
  readonly histograms: HistogramCache;
  readonly runner: Runner;
  readonly metrics: SchedulerMetrics;
  readonly logStore: TaskLogs;
  readonly leadership: ApiContext['leadership'];
  readonly workers?: ApiContext['workers'];
  readonly workersAvailable?: ApiContext['workersAvailable'];
  readonly configWriter: ConfigWrites;
  readonly allowCommand: boolean;
  /** A forgiven job's tasks may start: the daemon schedules a pass. */
  readonly requestPass: () => void;
}

export function daemonApi(parts: DaemonApiParts): ApiContext {
  const { runner, statuses, scheduler } = parts;
  return {
    config: parts.config,
    nodes: parts.nodes,
    nodeIndex: (nodes) => scheduler.nodeIndex(nodes, parts.config(), statuses),
    eligibility: scheduler.eligibility,
    notRunning: (job) => {
      const snapshot = scheduler.lastSnapshot;
      const nodes = parts.nodes();
      if (!snapshot || !nodes || snapshot.index.nodes !== nodes) return undefined;
      return new NotRunningReasons(snapshot, job, statuses, scheduler.eligibility);
    },
    statuses,
    errors: () => parts.errors.snapshot(),
    histograms: () => parts.histograms.get(),
    killTask: (job, node) => {
      const outcome = withApiErrors(() => runner.killTask(job, node, 'api'));
      if (!outcome.ok) throw new ApiError(outcome.message, 409);
      parts.metrics.killSent(outcome.invocationId, outcome.request.method, 'api');
      return outcome.message;
    },
    forgive: (job) => {
      withApiErrors(() => runner.forgive(job));
      parts.requestPass();
    },
    usage: (id) => runner.usage(id),
    queryLogs: (query) => parts.logStore.query(query),
    leadership: parts.leadership,
    ...(parts.workers ? { workers: parts.workers } : {}),
    ...(parts.workersAvailable ? { workersAvailable: parts.workersAvailable } : {}),
    configWriter: parts.configWriter,
    allowCommand: parts.allowCommand,
  };
}

function withApiErrors<T>(control: () => T): T {
  try {
    return control();
  } catch (error) {
    if (error instanceof UnknownTaskError) throw new NotFoundError(error.message);
    throw error;
  }
}
