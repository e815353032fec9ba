/** A real `bistro scheduler` for the benchmarks: its config written to a temp dir, stopped with SIGTERM. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BISTRO = fileURLToPath(new URL('../bin/bistro.js', import.meta.url));

export interface SchedulerProcess {
  readonly child: ChildProcess;
  readonly dataDir: string;
  /** Its log so far (only with `captureOutput`). */
  output(): string;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

/** One job of `tasks` nodes running `script` (sh -c; $2 is the status pipe), `concurrency` at a time. */
export function trivialJobConfig(
  tasks: number,
  concurrency: number,
  script: string,
): Record<string, unknown> {
  return {
    bistro_settings: {
      enabled: true,
      nodes: {
        levels: ['shard'],
        node_sources: [
          {
            source: 'range_label',
            prefs: { parent_level: 'instance', start: 1, end: tasks, format: 's{i}' },
          },
        ],
      },
      resources: { instance: { concurrency: { limit: concurrency, default: 1 } } },
    },
    'bistro_job->trivial': { owner: 'bench', command: ['/bin/sh', '-c', script, 'task'] },
  };
}

/** A `bistro worker` named `name` on `url` (data in `dir/worker-NAME`), optionally behind `prefix` (a namespace). */
export function startWorker(
  dir: string,
  url: string,
  name: string,
  extraArgs: readonly string[] = [],
  prefix: readonly string[] = [],
): SchedulerProcess {
  const dataDir = join(dir, `worker-${name}`);
  return spawnBistro(
    [
      ...prefix,
      process.execPath,
      BISTRO,
      'worker',
      '--database',
      url,
      '--worker-name',
      name,
      '--data-dir',
      dataDir,
      ...extraArgs,
    ],
    dataDir,
    true,
  );
}

/** Writes `config` to `dir/config.json` and starts the scheduler on it (data in `dir/data`). */
export function startScheduler(
  dir: string,
  config: Record<string, unknown>,
  extraArgs: readonly string[] = [],
  options: { captureOutput?: boolean; dataDir?: string } = {},
): SchedulerProcess {
  const configFile = join(dir, 'config.json');
  const dataDir = options.dataDir ?? join(dir, 'data');
  writeFileSync(configFile, JSON.stringify(config));
  return spawnBistro(
    [process.execPath, BISTRO, 'scheduler', '--config', configFile, '--data-dir', dataDir, ...extraArgs],
    dataDir,
    options.captureOutput ?? false,
  );
}

/** A scheduler on the config in the database at `url` (data in `dir/data`). */
export function startDatabaseConfigScheduler(
  dir: string,
  url: string,
  extraArgs: readonly string[] = [],
): SchedulerProcess {
  const dataDir = join(dir, 'data');
  return spawnBistro(
    [
      process.execPath,
      BISTRO,
      'scheduler',
      '--config-in-database',
      '--database',
      url,
      '--data-dir',
      dataDir,
      ...extraArgs,
    ],
    dataDir,
    true,
  );
}

/** Output goes to a file beside the data dir (not a pipe the benchmark must drain while it measures). */
function spawnBistro(command: readonly string[], dataDir: string, captureOutput: boolean): SchedulerProcess {
  const [file, ...rest] = command;
  // BISTRO_BENCH_PROFILE_DIR=dir: each bistro process writes a CPU profile there when it exits.
  const profileDir = process.env['BISTRO_BENCH_PROFILE_DIR'];
  const args =
    profileDir && file === process.execPath ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...rest] : rest;
  const logFile = `${dataDir}.log`;
  const fd = captureOutput ? openSync(logFile, 'w') : undefined;
  const child = spawn(file!, args, { stdio: fd === undefined ? 'ignore' : ['ignore', fd, fd] });
  if (fd !== undefined) closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    dataDir,
    output: () => (fd === undefined ? '' : readFileSync(logFile, 'utf8')),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
