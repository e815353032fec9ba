/**
 * Offline validation of a config file (`bistro validate`): every settings
 * problem, every job problem and every node-source prefs problem, each with
 * its key path. Nothing is run.
 */
import { compileNodeSources } from '../nodes/fetchNodes.js';
import { analyzeConfig, jobIssues, parseConfigJson } from './config.js';
import { ConfigError, type ConfigIssue } from './issues.js';
import { readRegularFile } from './regularFile.js';
import { summarizeIssues } from './settings.js';

export interface ValidationReport {
  readonly file: string;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  /** Set when the file could not be read or is not JSON. */
  readonly fatal?: string;
  readonly jobCount: number;
}

export function validateConfigFile(file: string): ValidationReport {
  let input: unknown;
  try {
    input = parseConfigJson(readRegularFile(file), file);
  } catch (error) {
    const message =
      error instanceof ConfigError
        ? error.message
        : `${file}: cannot read config (${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message})`;
    return { file, errors: [], warnings: [], fatal: message, jobCount: 0 };
  }
  const analysis = analyzeConfig(input);
  const errors: ConfigIssue[] = [...analysis.settingsErrors];
  const warnings: ConfigIssue[] = [...analysis.warnings];
  if (analysis.settingsErrors.length === 0) {
    const sources = compileNodeSources(analysis.settings);
    errors.push(...sources.errors);
    warnings.push(...sources.warnings);
  }
  errors.push(...jobIssues(analysis));
  return { file, errors, warnings, jobCount: analysis.jobs.size };
}

/** Every problem of a `bistro_settings` value, as `bistro validate` reports them. */
export function settingsProblems(settings: unknown): ConfigIssue[] {
  const analysis = analyzeConfig({ bistro_settings: settings });
  if (analysis.settingsErrors.length > 0) return [...analysis.settingsErrors];
  return [...compileNodeSources(analysis.settings).errors];
}

/** Throws `ConfigError` naming every problem of a `bistro_settings` value. */
export function assertValidSettings(settings: unknown): void {
  const problems = settingsProblems(settings);
  if (problems.length > 0) throw new ConfigError(`Invalid config: ${summarizeIssues(problems)}`, problems);
}
