/** `bistro validate CONFIG`: prints every problem with its key path; exit 1 if any. */
import type { Command } from 'commander';
import { formatIssue, formatKeyPath, type ConfigIssue } from '../../config/issues.js';
import { validateConfigFile } from '../../config/validateFile.js';
import { CliExit, printJson, printLine } from '../output.js';

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('check a config file offline and print every error with its key path')
    .argument('<config>', 'path of the JSON config file')
    .option('--json', 'print the report as JSON')
    .action((file: string, options: { json?: boolean }) => {
      const report = validateConfigFile(file);
      if (options.json) {
        printJson({
          file: report.file,
          valid: report.fatal === undefined && report.errors.length === 0,
          fatal: report.fatal,
          errors: report.errors.map(issueJson),
          warnings: report.warnings.map(issueJson),
        });
      } else if (report.fatal !== undefined) {
        printLine(`error: ${report.fatal}`);
      } else {
        for (const issue of report.errors) printLine(`error: ${file}: ${formatIssue(issue)}`);
        for (const issue of report.warnings) printLine(`warning: ${file}: ${formatIssue(issue)}`);
        const verdict = report.errors.length === 0 ? 'OK' : 'INVALID';
        printLine(
          `${file}: ${verdict}: ${report.jobCount} job(s), ${report.errors.length} error(s), ${report.warnings.length} warning(s)`,
        );
      }
      if (report.fatal !== undefined || report.errors.length > 0) throw new CliExit(1);
    });
}

function issueJson(issue: ConfigIssue): { path: string; message: string } {
  return { path: formatKeyPath(issue.path), message: issue.message };
}
