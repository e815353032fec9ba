/** What the scheduler daemon is started with, and what its stop reports. */
import type { Logger } from '../logging/logger.js';
import type { AbandonedTask } from '../runners/runner.js';
import type { HttpOptions } from './apiServer.js';

import type { ConfigDatabase } from '../cluster/databaseConfigLoader.js';

export interface DaemonOptions {
  /** The config file; ignored when `configDatabase` is given. */
  readonly configFile: string;
  /** --config-in-database: the config every scheduler on the database shares. */
  readonly configDatabase?: ConfigDatabase;
  readonly dataDir: string;
  readonly workerCommand?: string;
  readonly instanceNodeName?: string;
  readonly configUpdateMs?: number;
  readonly nodesUpdateMs?: number;
  readonly nodesRetryMs?: number;
  readonly dryRun?: boolean;
  readonly benchmarkRun?: boolean;
  /** --benchmark-run: mean simulated task duration and failure rate. */
  readonly testTaskDurationMs?: number;
  readonly testFailureRate?: number;
  readonly logRetentionSec?: number;
  readonly logPruneFrequencySec?: number;
  /** Nice levels the scheduler runs above its tasks when it may (default 10; 0 = none). */
  readonly priorityBoost?: number;
  readonly logger: Logger;
  /** The REST API; port 0 turns it off. */
  readonly http?: HttpOptions;
  /** A fixed instance identity (--instance-id); by default the data dir's, made on first start. */
  readonly instanceId?: string;
  /** Where host-wide identity locks live (tests point it elsewhere). */
  readonly identityLockDir?: string;
  /** Time beyond the largest kill_wait_ms before a stop SIGKILLs everything in reach. */
  readonly stopGraceMs?: number;
  /** State in PostgreSQL instead of the data dir's SQLite files, with leadership and a worker lease. */
  readonly database?: DatabaseOptions;
}

export interface DatabaseOptions {
  readonly url: string;
  /** This scheduler's name as a worker (default: the host name). */
  readonly workerName?: string;
  readonly leaderLeaseSec?: number;
  readonly workerLeaseSec?: number;
  /** From SIGKILL to an empty task cgroup, at most. */
  readonly killBoundSec?: number;
  /** `remote`: tasks run on `bistro worker` processes, not here. */
  readonly runner?: 'local' | 'remote';
}

/** What a stop left behind. */
export interface StopReport {
  /** Tasks that could not be confirmed dead, with pids still found holding their pipes or marker. */
  readonly abandoned: readonly AbandonedTask[];
}
