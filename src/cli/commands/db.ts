/** `bistro db migrate`: brings a PostgreSQL database's schema up to date, explicitly. */
import type { Command } from 'commander';
import { DatabaseError, databaseUrlFrom, openPool } from '../../store/postgres/connection.js';
import { migrate } from '../../store/postgres/migrations.js';
import { CliExit, printError } from '../output.js';

export function registerDbCommand(program: Command): void {
  const db = program.command('db').description('manage the PostgreSQL database of a shared scheduler');
  db.command('migrate')
    .description('apply the schema migrations this version needs (schedulers also do it at start)')
    .option(
      '--database <url>',
      'postgres://... (default $BISTRO_DATABASE_URL; PG* variables fill in the rest)',
    )
    .action(async (options: { database?: string }) => {
      const url = databaseUrlFrom(options.database);
      if (url === undefined) {
        printError('--database: give a postgres:// URL or set BISTRO_DATABASE_URL');
        throw new CliExit(2);
      }
      const pool = openPool(url, { queryTimeoutMs: 30_000, max: 1 });
      try {
        const { from, to } = await migrate(pool);
        process.stdout.write(
          from === to
            ? `schema is up to date (version ${to})\n`
            : `schema migrated from version ${from} to ${to}\n`,
        );
      } catch (error) {
        const message =
          error instanceof DatabaseError ? error.message : `cannot migrate: ${(error as Error).message}`;
        printError(message);
        throw new CliExit(1);
      } finally {
        await pool.end().catch(() => undefined);
      }
    });
}
