/**
 * A whole config file: `bistro_settings` plus every
 * `bistro_job->NAME` object. Settings problems make the config unusable
 * (`ConfigError`); job problems only make that job invalid.
 */
import { ConfigError, type ConfigIssue } from './issues.js';
import { parseJob, type Job } from './job.js';
import { isPlainObject, newIssueSink } from './reader.js';
import { readSettings, summarizeIssues, type Settings, type SettingsOptions } from './settings.js';

export const JOB_PREFIX = 'bistro_job->';

export interface Config {
  readonly settings: Settings;
  /** In file order. */
  readonly jobs: ReadonlyMap<string, Job>;
  /** Unknown keys and ignored entries, with full key paths. */
  readonly warnings: readonly ConfigIssue[];
}

export interface ConfigAnalysis extends Config {
  /** Problems that make the whole config unusable. */
  readonly settingsErrors: readonly ConfigIssue[];
}

/** Parses everything and reports every problem; never throws. */
export function analyzeConfig(input: unknown, options: SettingsOptions = {}): ConfigAnalysis {
  const sink = newIssueSink();
  if (!isPlainObject(input)) {
    sink.errors.push({
      path: [],
      message: 'expected a JSON object at the top of the file',
      kind: 'invalid',
      value: input,
    });
  }
  const top = isPlainObject(input) ? input : {};
  const settings = readSettings(top['bistro_settings'], sink, options);
  const jobs = new Map<string, Job>();
  const warnings = [...sink.warnings];
  for (const [key, value] of Object.entries(top)) {
    if (key === 'bistro_settings') continue;
    if (!key.startsWith(JOB_PREFIX)) {
      warnings.push(...jobKeyWarnings(key, undefined));
      continue;
    }
    const job = parseJob(key.slice(JOB_PREFIX.length), value, settings);
    jobs.set(job.name, job);
    warnings.push(...jobKeyWarnings(key, job));
  }
  return { settings, jobs, warnings, settingsErrors: sink.errors };
}

/** The warnings of a top-level key: the job's own, with full paths, or that the key means nothing. */
export function jobKeyWarnings(key: string, job: Job | undefined): ConfigIssue[] {
  if (job === undefined) {
    return [
      {
        path: [key],
        message: 'top-level key is neither "bistro_settings" nor "bistro_job->NAME"; ignored',
        kind: 'invalid',
      },
    ];
  }
  return job.warnings.map((warning) => ({ ...warning, path: [key, ...warning.path] }));
}

/** Parses a config object; throws `ConfigError` if the settings are unusable. */
export function parseConfig(input: unknown, options: SettingsOptions = {}): Config {
  const analysis = analyzeConfig(input, options);
  if (analysis.settingsErrors.length > 0) {
    throw new ConfigError(
      `Invalid config: ${summarizeIssues(analysis.settingsErrors)}`,
      analysis.settingsErrors,
    );
  }
  return { settings: analysis.settings, jobs: analysis.jobs, warnings: analysis.warnings };
}

/** Parses JSON text, naming the file and position of a syntax error. */
export function parseConfigJson(text: string, file?: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const where = file ? `${file}: ` : '';
    throw new ConfigError(`${where}invalid JSON (${(error as Error).message})`, [], file);
  }
}

/** Every job problem with its full key path (`bistro_job->x.owner`). */
export function jobIssues(config: Config): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const job of config.jobs.values()) {
    for (const issue of job.issues) out.push({ ...issue, path: [`${JOB_PREFIX}${job.name}`, ...issue.path] });
  }
  return out;
}

/**
 * The part of `config` that is new since `previous`: all of it if the
 * settings changed, else only the jobs whose objects changed (a config
 * assembled entry by entry keeps unchanged jobs' objects). For reporting
 * once what a change brought, not everything again at every change.
 */
export function changedSince(config: Config, previous: Config | undefined): Config {
  if (previous === undefined || previous.settings !== config.settings) return config;
  const jobs = new Map<string, Job>();
  for (const [name, job] of config.jobs) if (previous.jobs.get(name) !== job) jobs.set(name, job);
  return { ...config, jobs };
}
