/** `bistro scheduler`: runs the scheduler daemon in the foreground. */
import type { Command } from 'commander';
import { ConfigError } from '../../config/issues.js';
import { DEFAULT_PRIORITY_BOOST, DEFAULT_STOP_GRACE_MS, SchedulerDaemon } from '../../daemon/daemon.js';
import { InstanceIdentityError } from '../../daemon/instanceIdentity.js';
import { createLogger } from '../../logging/logger.js';
import { StoreError } from '../../store/database.js';
import { ApiError } from '../../server/apiErrors.js';
import { ApiListenError } from '../../server/apiServerHost.js';
import { CliExit, printError } from '../output.js';
import { runUntilStopped } from '../untilStopped.js';
import { seconds, whole } from '../numberOptions.js';
import { DatabaseError, databaseUrlFrom } from '../../store/postgres/connection.js';
import { connectConfigDatabase, type ConfigDatabase } from '../../cluster/databaseConfigLoader.js';
import {
  DEFAULT_KILL_BOUND_SEC,
  DEFAULT_LEADER_LEASE_SEC,
  DEFAULT_WORKER_LEASE_SEC,
} from '../../cluster/leaseTiming.js';

function isListenError(error: unknown): error is Error {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error instanceof ApiListenError ||
    code === 'EADDRINUSE' ||
    code === 'EACCES' ||
    code === 'EADDRNOTAVAIL' ||
    code === 'ENOENT'
  );
}

interface SchedulerOptions {
  config?: string;
  configInDatabase?: boolean;
  dataDir: string;
  workerCommand?: string;
  instanceNodeName?: string;
  configUpdateMs: string;
  nodesUpdateMs: string;
  nodesRetryMs: string;
  dryRun?: boolean;
  benchmarkRun?: boolean;
  testTaskDurationMs: string;
  testFailureRate: string;
  logRetention: string;
  logPruneFrequency: string;
  priorityBoost: string;
  httpPort: string;
  httpAddress: string;
  apiTokenFile?: string;
  apiTokenForReads?: boolean;
  apiAllowCommand?: boolean;
  apiAllowedHosts?: string;
  instanceId?: string;
  stopGraceMs: string;
  database?: string;
  runner: 'local' | 'remote';
  workerName?: string;
  leaderLeaseSec: string;
  workerLeaseSec: string;
  killBoundSec: string;
}

export function registerSchedulerCommand(program: Command): void {
  program
    .command('scheduler')
    .description('run the scheduler: poll the config, refresh nodes, start, supervise and kill tasks')
    .option('--config <file>', 'the JSON config file')
    .option(
      '--config-in-database',
      'with --database: read settings and jobs from the database, shared by every scheduler on it (see "bistro config")',
    )
    .requiredOption('--data-dir <dir>', 'where statuses, task logs and job working directories live')
    .option('--worker-command <path>', 'the task executable for jobs without "command"')
    .option('--instance-node-name <name>', 'name of the instance node (default: this host name)')
    .option('--config-update-ms <ms>', 'config poll period', '10000')
    .option('--nodes-update-ms <ms>', 'node refresh period', '300000')
    .option('--nodes-retry-ms <ms>', 'node refresh period after a failure', '30000')
    .option('--dry-run', 'start no process: every task is marked running, then done')
    .option('--benchmark-run', 'start no process: tasks "run" for a random time, then finish')
    .option('--test-task-duration-ms <ms>', 'mean simulated duration for --benchmark-run', '5000')
    .option('--test-failure-rate <p>', 'failure probability for --benchmark-run', '0')
    .option('--log-retention <seconds>', 'task logs older than this are pruned', String(30 * 86400))
    .option('--log-prune-frequency <seconds>', 'seconds between prunes; <= 0 disables', '3600')
    .option('--http-port <port>', 'REST API port; 0 turns the server off', '6790')
    .option('--http-address <address>', 'REST API bind address', '127.0.0.1')
    .option(
      '--api-token-file <file>',
      'require this bearer token for kill_task, forgive_jobs, save_job, delete_job',
    )
    .option('--api-token-for-reads', 'require the token for every request')
    .option(
      '--api-allow-command',
      "let save_job set, change or drop a job's command and its task_subprocess containment keys",
    )
    .option(
      '--api-allowed-hosts <names>',
      'comma-separated host names the Host header may carry besides the bound address (a DNS name in front of the API)',
    )
    .option(
      '--instance-id <id>',
      "this scheduler's identity on the host (names its cgroup sub-tree); default: made once and kept in the data dir",
    )
    .option(
      '--stop-grace-ms <ms>',
      'on SIGTERM, time beyond the largest kill_wait_ms before every task process in reach gets SIGKILL',
      String(DEFAULT_STOP_GRACE_MS),
    )
    .option(
      '--priority-boost <levels>',
      'nice levels the scheduler runs above its tasks, if it may (needs CAP_SYS_NICE); 0 = none',
      String(DEFAULT_PRIORITY_BOOST),
    )
    .option(
      '--database <url>',
      'keep state in PostgreSQL (postgres://...; default $BISTRO_DATABASE_URL; PG* variables fill in the rest): several schedulers share it, one leads',
    )
    .option(
      '--worker-name <name>',
      "with --database: this scheduler's name as the worker of its tasks (default: the host name)",
    )
    .option(
      '--leader-lease-sec <seconds>',
      'with --database: the leader lease',
      String(DEFAULT_LEADER_LEASE_SEC),
    )
    .option(
      '--worker-lease-sec <seconds>',
      'with --database: the worker lease; tasks are killed when it cannot be renewed (keep it above twice the database failover time)',
      String(DEFAULT_WORKER_LEASE_SEC),
    )
    .option(
      '--runner <runner>',
      'who runs the tasks: "local" (this process, the default) or "remote" (`bistro worker` processes; needs --database)',
      'local',
    )
    .option(
      '--kill-bound-sec <seconds>',
      'with --database: the longest time from SIGKILL to an empty task cgroup',
      String(DEFAULT_KILL_BOUND_SEC),
    )
    .action(async (options: SchedulerOptions) => {
      const logger = createLogger();
      const databaseUrl = databaseUrlFrom(options.database);
      if (options.runner !== 'local' && options.runner !== 'remote') {
        printError(`--runner: expected "local" or "remote", got ${JSON.stringify(options.runner)}`);
        throw new CliExit(2);
      }
      if (options.runner === 'remote' && !databaseUrl) {
        printError('--runner remote needs --database (workers find their tasks in PostgreSQL)');
        throw new CliExit(2);
      }
      if ((options.config === undefined) === !options.configInDatabase) {
        printError('give either --config FILE or --config-in-database (with --database)');
        throw new CliExit(2);
      }
      if (options.configInDatabase && !databaseUrl) {
        printError('--config-in-database needs --database (the config lives in PostgreSQL)');
        throw new CliExit(2);
      }
      let daemon: SchedulerDaemon | undefined;
      let configDatabase: ConfigDatabase | undefined;
      try {
        if (options.configInDatabase) configDatabase = await connectConfigDatabase(databaseUrl!);
        daemon = new SchedulerDaemon({
          configFile: options.config ?? '',
          configDatabase,
          dataDir: options.dataDir,
          workerCommand: options.workerCommand,
          instanceNodeName: options.instanceNodeName,
          configUpdateMs: whole('--config-update-ms', options.configUpdateMs, 1),
          nodesUpdateMs: whole('--nodes-update-ms', options.nodesUpdateMs, 1),
          nodesRetryMs: whole('--nodes-retry-ms', options.nodesRetryMs, 1),
          dryRun: options.dryRun,
          benchmarkRun: options.benchmarkRun,
          testTaskDurationMs: whole('--test-task-duration-ms', options.testTaskDurationMs),
          testFailureRate: whole('--test-failure-rate', options.testFailureRate),
          logRetentionSec: whole('--log-retention', options.logRetention),
          logPruneFrequencySec: Number(options.logPruneFrequency),
          priorityBoost: whole('--priority-boost', options.priorityBoost),
          instanceId: options.instanceId,
          stopGraceMs: whole('--stop-grace-ms', options.stopGraceMs),
          logger,
          ...(databaseUrl
            ? {
                database: {
                  url: databaseUrl,
                  workerName: options.workerName,
                  leaderLeaseSec: seconds('--leader-lease-sec', options.leaderLeaseSec),
                  workerLeaseSec: seconds('--worker-lease-sec', options.workerLeaseSec),
                  killBoundSec: seconds('--kill-bound-sec', options.killBoundSec),
                  runner: options.runner,
                },
              }
            : {}),
          http: {
            port: whole('--http-port', options.httpPort),
            address: options.httpAddress,
            tokenFile: options.apiTokenFile,
            tokenForReads: options.apiTokenForReads,
            allowCommand: options.apiAllowCommand,
            allowedHosts: options.apiAllowedHosts
              ?.split(',')
              .map((name) => name.trim())
              .filter((name) => name !== ''),
          },
        });
        await daemon.start();
      } catch (error) {
        // Release what the failed start made (stores, timers, the API worker) so the process exits.
        await daemon?.stop();
        if (!daemon) await configDatabase?.pool.end().catch(() => undefined);
        if (
          error instanceof ConfigError ||
          error instanceof InstanceIdentityError ||
          error instanceof StoreError ||
          error instanceof DatabaseError ||
          error instanceof ApiError ||
          isListenError(error)
        ) {
          printError(error.message);
          throw new CliExit(1);
        }
        throw error;
      }
      const running = daemon;
      await runUntilStopped(
        { stop: async () => (await running.stop()).abandoned, escalate: () => running.escalate() },
        logger,
      );
    });
}
