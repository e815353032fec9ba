/** `bistro worker`: runs the tasks a leader dispatches to this host (docs/distributed.md). */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { DEFAULT_KILL_BOUND_SEC, DEFAULT_WORKER_LEASE_SEC } from '../../cluster/leaseTiming.js';
import { DEFAULT_PRIORITY_BOOST, DEFAULT_STOP_GRACE_MS } from '../../daemon/daemon.js';
import { InstanceIdentityError } from '../../daemon/instanceIdentity.js';
import { createLogger } from '../../logging/logger.js';
import { StoreError } from '../../store/database.js';
import { DatabaseError, databaseUrlFrom } from '../../store/postgres/connection.js';
import { WorkerDaemon } from '../../worker/workerDaemon.js';
import { seconds, whole } from '../numberOptions.js';
import { CliExit, printError } from '../output.js';
import { runUntilStopped } from '../untilStopped.js';

interface WorkerCliOptions {
  database?: string;
  workerName: string;
  dataDir?: string;
  workerLeaseSec: string;
  killBoundSec: string;
  workerCommand?: string;
  instanceId?: string;
  priorityBoost: string;
  stopGraceMs: string;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the tasks the leading scheduler dispatches to this worker (needs PostgreSQL)')
    .option('--database <url>', 'the PostgreSQL the schedulers use (default $BISTRO_DATABASE_URL)')
    .option('--worker-name <name>', "this worker's name (unique in the fleet)", hostname())
    .option(
      '--data-dir <dir>',
      'launch records and job working directories (default /var/lib/bistro/worker-NAME)',
    )
    .option(
      '--worker-lease-sec <seconds>',
      'the worker lease; tasks are killed when it cannot be renewed (keep it above twice the database failover time)',
      String(DEFAULT_WORKER_LEASE_SEC),
    )
    .option(
      '--kill-bound-sec <seconds>',
      'the longest time from SIGKILL to an empty task cgroup',
      String(DEFAULT_KILL_BOUND_SEC),
    )
    .option('--worker-command <path>', 'the task executable for jobs without "command"')
    .option('--instance-id <id>', "this worker's identity on the host (names its cgroup sub-tree)")
    .option(
      '--priority-boost <levels>',
      'nice levels the worker runs above its tasks, if it may; 0 = none',
      String(DEFAULT_PRIORITY_BOOST),
    )
    .option(
      '--stop-grace-ms <ms>',
      'on SIGTERM, time beyond the largest kill_wait_ms before every task process gets SIGKILL',
      String(DEFAULT_STOP_GRACE_MS),
    )
    .action(async (options: WorkerCliOptions) => {
      const url = databaseUrlFrom(options.database);
      if (!url) {
        printError(
          'bistro worker needs --database (or BISTRO_DATABASE_URL): workers find their tasks in PostgreSQL',
        );
        throw new CliExit(2);
      }
      const logger = createLogger();
      let worker: WorkerDaemon | undefined;
      try {
        worker = new WorkerDaemon({
          url,
          name: options.workerName,
          dataDir: options.dataDir ?? `/var/lib/bistro/worker-${options.workerName}`,
          workerLeaseMs: seconds('--worker-lease-sec', options.workerLeaseSec) * 1000,
          killBoundMs: seconds('--kill-bound-sec', options.killBoundSec) * 1000,
          logger,
          workerCommand: options.workerCommand,
          instanceId: options.instanceId,
          priorityBoost: whole('--priority-boost', options.priorityBoost),
          stopGraceMs: whole('--stop-grace-ms', options.stopGraceMs),
        });
        await worker.start();
      } catch (error) {
        await worker?.stop();
        if (
          error instanceof DatabaseError ||
          error instanceof InstanceIdentityError ||
          error instanceof StoreError
        ) {
          printError(error.message);
          throw new CliExit(1);
        }
        throw error;
      }
      await runUntilStopped(worker, logger);
    });
}
