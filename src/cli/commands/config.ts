/**
 * `bistro config`: the config in the database (--config-in-database):
 * import a file, export it back, list its history, roll an entry back.
 * These talk to PostgreSQL directly (as "cli" in the history); the
 * schedulers on the database see each change through their notification.
 */
import type { Command } from 'commander';
import { DatabaseConfigWriter } from '../../cluster/databaseConfigWriter.js';
import { JOB_PREFIX } from '../../config/config.js';
import { ConfigError } from '../../config/issues.js';
import { readRegularFile } from '../../config/regularFile.js';
import { configHistory } from '../../store/postgres/configTables.js';
import { DatabaseError, databaseUrlFrom, openPool, type PgPool } from '../../store/postgres/connection.js';
import { migrate } from '../../store/postgres/migrations.js';
import { CliExit, formatTable, formatTime, printError, printJson, printLine } from '../output.js';
import { whole } from '../numberOptions.js';

const CLI_ACTOR = 'cli';

interface DatabaseOption {
  database?: string;
}

interface HistoryOptions extends DatabaseOption {
  limit: string;
  settings?: boolean;
  json?: boolean;
  utc?: boolean;
}

function withDatabase(command: Command): Command {
  return command.option(
    '--database <url>',
    'postgres://... (default $BISTRO_DATABASE_URL; PG* variables fill in the rest)',
  );
}

/** Runs `work` on a migrated database; a refused change or an unreachable database exits 1 with its message. */
async function onDatabase<T>(options: DatabaseOption, work: (pool: PgPool) => Promise<T>): Promise<T> {
  const url = databaseUrlFrom(options.database);
  if (url === undefined) {
    printError('--database: give a postgres:// URL or set BISTRO_DATABASE_URL');
    throw new CliExit(2);
  }
  const pool = openPool(url, { queryTimeoutMs: 60_000, max: 1, applicationName: 'bistro config' });
  try {
    await migrate(pool);
    return await work(pool);
  } catch (error) {
    if (error instanceof CliExit) throw error;
    if (error instanceof ConfigError || error instanceof DatabaseError) printError(error.message);
    else printError(`config: ${(error as Error).message}`);
    throw new CliExit(1);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

export function registerConfigCommand(program: Command): void {
  const config = program
    .command('config')
    .description('the config in PostgreSQL (schedulers started with --config-in-database)');

  withDatabase(
    config
      .command('import')
      .description(
        "make the database's config the file's: its settings and jobs, in file order, and no others",
      )
      .argument('<file>'),
  ).action(async (file: string, options: DatabaseOption) => {
    const text = readFile(file);
    const report = await onDatabase(options, (pool) =>
      new DatabaseConfigWriter(pool).importText(text, file, CLI_ACTOR),
    );
    for (const problem of report.jobProblems)
      printError(`warning: ${problem} (the job is kept and starts no task)`);
    printLine(
      report.version === 0
        ? `${file}: the database already holds this config (${report.unchanged} entries)`
        : `${file}: imported as version ${report.version}: ${report.written} entries written, ` +
            `${report.deleted} deleted, ${report.unchanged} unchanged`,
    );
  });

  withDatabase(
    config
      .command('export')
      .description("print the database's config as a file (an import of it changes nothing)"),
  ).action(async (options: DatabaseOption) => {
    process.stdout.write(await onDatabase(options, (pool) => new DatabaseConfigWriter(pool).exportText()));
  });

  withDatabase(
    config
      .command('history')
      .description('changes to the config, newest first: version, time, who, what, and the version replaced')
      .argument('[job]', 'only this job')
      .option('--settings', 'only bistro_settings')
      .option('--limit <n>', 'the newest N changes', '50')
      .option('--json', 'print JSON')
      .option('--utc', 'print times in UTC'),
  ).action(async (job: string | undefined, options: HistoryOptions) => {
    if (job !== undefined && options.settings) {
      printError('give a job or --settings, not both');
      throw new CliExit(2);
    }
    const key = options.settings ? 'bistro_settings' : job === undefined ? undefined : `${JOB_PREFIX}${job}`;
    const limit = Math.min(Math.floor(whole('--limit', options.limit, 1)), 1_000_000);
    const rows = await onDatabase(options, (pool) => configHistory(pool, key, limit));
    if (options.json) {
      return printJson(
        rows.map((row) => ({
          version: row.version,
          time: row.at.getTime() / 1000,
          actor: row.actor,
          action: row.action,
          key: row.key,
          value: row.text === null ? null : (JSON.parse(row.text) as unknown),
          previous_version: row.previousVersion,
        })),
      );
    }
    if (rows.length === 0) {
      printLine(key === undefined ? 'the config has no history yet' : `no changes recorded for ${key}`);
      throw new CliExit(1);
    }
    printLine(
      formatTable(
        ['VERSION', 'TIME', 'WHO', 'ACTION', 'ENTRY', 'REPLACED'],
        rows.map((row) => [
          String(row.version),
          formatTime(row.at.getTime() / 1000, options.utc),
          row.actor,
          row.text === null && row.action !== 'delete' ? `${row.action} (deleted)` : row.action,
          row.key,
          row.previousVersion === null ? '-' : String(row.previousVersion),
        ]),
      ),
    );
  });

  withDatabase(
    config
      .command('rollback')
      .description(
        'restore a version as a new version: a VERSION from "bistro config history" restores what it wrote; ' +
          "a JOB name (or --job NAME, --settings) undoes that entry's latest change",
      )
      .argument('[version-or-job]', 'a version number, or a job name')
      .option('--job <name>', "undo this job's latest change (for a job whose name is a number)")
      .option('--settings', 'undo the latest change to bistro_settings'),
  ).action(
    async (target: string | undefined, options: DatabaseOption & { job?: string; settings?: boolean }) => {
      const given = [target, options.job, options.settings ? 'settings' : undefined].filter(
        (x) => x !== undefined,
      );
      if (given.length !== 1) {
        printError('give one of: a version, a job name, --job NAME, --settings');
        throw new CliExit(2);
      }
      if (target !== undefined && /^\d+$/.test(target)) {
        const version = whole('<version>', target, 1);
        const restored = await onDatabase(options, (pool) =>
          new DatabaseConfigWriter(pool).rollback(version, CLI_ACTOR),
        );
        printLine(`${restored.key}: restored as of version ${version} (now version ${restored.version})`);
        return;
      }
      const key = options.settings ? 'bistro_settings' : `${JOB_PREFIX}${options.job ?? target}`;
      const undone = await onDatabase(options, (pool) =>
        new DatabaseConfigWriter(pool).undoLatest(key, CLI_ACTOR),
      );
      printLine(
        undone.restored === 0
          ? `${key}: deleted (it did not exist before its latest change; now version ${undone.version})`
          : `${key}: restored as of version ${undone.restored} (now version ${undone.version})`,
      );
    },
  );
}

function readFile(file: string): string {
  try {
    return readRegularFile(file);
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    printError(`${file}: cannot read config (${reason})`);
    throw new CliExit(1);
  }
}
