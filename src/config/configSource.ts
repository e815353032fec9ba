/**
 * Where the scheduler's config comes from: a file it polls
 * (`fileLoader.ts`) or the database every scheduler shares
 * (`cluster/databaseConfigLoader.ts`). Either way a config that fails to
 * parse never replaces the one in force.
 */
import type { Config } from './config.js';
import type { ConfigError } from './issues.js';
import type { SettingsOptions } from './settings.js';

export interface ConfigState {
  /** The config in force (the last good one). */
  readonly config: Config;
  /** Why the newest config was rejected, if it was. */
  readonly error: ConfigError | undefined;
  /** Increments whenever a new good config is accepted. */
  readonly generation: number;
  /** Identifies the config in force (schedulers compare it at a leadership handover). */
  readonly hash: string;
}

export interface ConfigSourceOptions extends SettingsOptions {
  readonly onChange?: (state: ConfigState, previous: Config) => void;
  /** Checks against the host after parsing (say, limits it cannot enforce); may mark jobs invalid. */
  readonly check?: (config: Config) => Config;
}

export interface ConfigSource {
  /** For logs: the file's path, or "the database". */
  readonly description: string;
  current(): ConfigState;
  /** Watches for changes; `pollMs` is the period of the poll (the database's safety net). */
  start(pollMs: number): void;
  stop(): Promise<void>;
}
