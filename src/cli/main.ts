/**
 * The `bistro` command. Each subcommand lives in its own module under
 * `commands/`; this file only wires them into commander.
 */
import { Command, CommanderError } from 'commander';
import { registerClientCommands } from './commands/client.js';
import { registerNodesCommand } from './commands/nodes.js';
import { registerSchedulerCommand } from './commands/scheduler.js';
import { registerWorkerCommand } from './commands/worker.js';
import { registerValidateCommand } from './commands/validate.js';
import { registerDbCommand } from './commands/db.js';
import { registerConfigCommand } from './commands/config.js';
import { registerHistoryCommand } from './commands/history.js';
import { registerCompletionCommand } from './commands/completion.js';
import { PACKAGE_VERSION } from '../logging/buildInfo.js';
import { CliExit } from './output.js';

export function buildProgram(): Command {
  const program = new Command('bistro')
    .description('A task scheduler that supervises every task process it starts (Bistro-compatible).')
    .version(PACKAGE_VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError();
  registerValidateCommand(program);
  registerNodesCommand(program);
  registerSchedulerCommand(program);
  registerWorkerCommand(program);
  registerClientCommands(program);
  registerHistoryCommand(program);
  registerDbCommand(program);
  registerConfigCommand(program);
  registerCompletionCommand(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CliExit) return error.code;
    if (error instanceof CommanderError) return error.exitCode;
    throw error;
  }
}
