/**
 * A config kept as top-level entries and rebuilt incrementally: a change to
 * one job re-parses that job only, a change to the settings re-parses every
 * job (jobs inherit from the settings). The result is the same `Config` that
 * `parseConfig` makes of the whole object, with unchanged jobs keeping their
 * `Job` objects, so caches keyed on them (launch plans) stay warm. Used by
 * the config in the database, where thousands of jobs change one at a time.
 */
import { ConfigError, type ConfigIssue } from './issues.js';
import { JOB_PREFIX, jobKeyWarnings, type Config } from './config.js';
import { parseJob, type Job } from './job.js';
import { newIssueSink } from './reader.js';
import { readSettings, summarizeIssues, type Settings, type SettingsOptions } from './settings.js';

const SETTINGS_KEY = 'bistro_settings';

interface Entry {
  readonly value: unknown;
  readonly ordinal: number;
}

interface ParsedSettings {
  readonly value: unknown;
  readonly settings: Settings;
  readonly warnings: readonly ConfigIssue[];
}

export class ConfigAssembly {
  private readonly entries = new Map<string, Entry>();
  private readonly parsedJobs = new Map<string, { readonly value: unknown; readonly job: Job }>();
  private parsedSettings: ParsedSettings | undefined;

  constructor(private readonly options: SettingsOptions = {}) {}

  /** Sets an entry; `value` undefined deletes it. */
  set(key: string, value: unknown, ordinal: number): void {
    if (value === undefined) this.entries.delete(key);
    else this.entries.set(key, { value, ordinal });
  }

  /** An entry's value as set. */
  get(key: string): unknown {
    return this.entries.get(key)?.value;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The config of the entries now; throws `ConfigError` if the settings are unusable. */
  build(): Config {
    const settingsValue = this.entries.get(SETTINGS_KEY)?.value;
    let parsed = this.parsedSettings;
    if (parsed === undefined || parsed.value !== settingsValue) {
      const sink = newIssueSink();
      const settings = readSettings(settingsValue, sink, this.options);
      if (sink.errors.length > 0)
        throw new ConfigError(`Invalid config: ${summarizeIssues(sink.errors)}`, sink.errors);
      parsed = { value: settingsValue, settings, warnings: sink.warnings };
      this.parsedSettings = parsed;
      this.parsedJobs.clear();
    }
    const ordered = [...this.entries].sort((a, b) => a[1].ordinal - b[1].ordinal || compare(a[0], b[0]));
    const jobs = new Map<string, Job>();
    const warnings: ConfigIssue[] = [...parsed.warnings];
    const seen = new Set<string>();
    for (const [key, { value }] of ordered) {
      if (key === SETTINGS_KEY) continue;
      if (!key.startsWith(JOB_PREFIX)) {
        warnings.push(...jobKeyWarnings(key, undefined));
        continue;
      }
      seen.add(key);
      let cached = this.parsedJobs.get(key);
      if (cached === undefined || cached.value !== value) {
        cached = { value, job: parseJob(key.slice(JOB_PREFIX.length), value, parsed.settings) };
        this.parsedJobs.set(key, cached);
      }
      jobs.set(cached.job.name, cached.job);
      warnings.push(...jobKeyWarnings(key, cached.job));
    }
    for (const key of this.parsedJobs.keys()) if (!seen.has(key)) this.parsedJobs.delete(key);
    return { settings: parsed.settings, jobs, warnings };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
