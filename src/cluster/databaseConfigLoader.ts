/**
 * The config every scheduler on a database shares (--config-in-database).
 * At start it reads every entry at one version; from then on it reads only
 * the versions after the last one it applied, when `bistro_config` is
 * notified and on a poll (the safety net for a lost notification), and
 * re-parses only what changed. Settings that fail to parse never replace
 * the config in force; a bad job is kept with its errors, as in a file.
 */
import type { Config } from '../config/config.js';
import { ConfigAssembly } from '../config/configAssembly.js';
import type { ConfigSource, ConfigSourceOptions, ConfigState } from '../config/configSource.js';
import { ConfigError } from '../config/issues.js';
import type { Logger } from '../logging/logger.js';
import {
  CONFIG_CHANNEL,
  configChangesSince,
  readConfigSnapshot,
  type ConfigEntryRow,
  type ConfigSnapshotRows,
} from '../store/postgres/configTables.js';
import { DatabaseError, openPool, type PgPool } from '../store/postgres/connection.js';
import { migrate } from '../store/postgres/migrations.js';
import { NotificationListener } from '../store/postgres/notificationListener.js';
import { Poller } from '../store/postgres/poller.js';

/** A connection to the shared config and what it held when the scheduler started. */
export interface ConfigDatabase {
  readonly url: string;
  readonly pool: PgPool;
  readonly snapshot: ConfigSnapshotRows;
}

/** Connects (migrating the schema if needed) and reads the config at its current version. */
export async function connectConfigDatabase(url: string): Promise<ConfigDatabase> {
  const pool = openPool(url, { queryTimeoutMs: 30_000, max: 4, applicationName: 'bistro config' });
  try {
    await migrate(pool);
    return { url, pool, snapshot: await readConfigSnapshot(pool) };
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(`cannot read the config from the database: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The shortest time between two rebuilds while changes stream in. */
const REBUILD_MIN_MS = 100;
/** A rebuild is followed by at least this many times its own duration without one (at most a fifth of the time). */
const REBUILD_SPACING = 5;

export class DatabaseConfigLoader implements ConfigSource {
  readonly description = 'the database';
  private readonly assembly: ConfigAssembly;
  /** The version that wrote each entry in the assembly. */
  private readonly versions = new Map<string, number>();
  private state: ConfigState;
  /** The last version applied to the assembly. */
  private applied: number;
  /** The last version built into the config in force. */
  private inForce: number;
  private listener: NotificationListener | undefined;
  /** performance.now() before which the next rebuild waits (batching a stream of changes). */
  private nextRebuildAt = 0;
  private poller: Poller | undefined;

  /** Parses the snapshot; throws `ConfigError` if the database holds no usable config. */
  constructor(
    private readonly database: ConfigDatabase,
    private readonly options: ConfigSourceOptions & { readonly logger: Logger },
  ) {
    this.assembly = new ConfigAssembly(options);
    const { head, entries } = database.snapshot;
    if (entries.length === 0) {
      throw new ConfigError(
        'the database holds no config yet; load one with "bistro config import FILE --database URL"',
      );
    }
    for (const entry of entries) this.set(entry);
    this.applied = head;
    this.inForce = head;
    this.state = {
      config: this.checked(this.assembly.build()),
      error: undefined,
      generation: 1,
      hash: hashOf(head),
    };
  }

  current(): ConfigState {
    return this.state;
  }

  /** An entry as this loader last read it (version 0: absent), for writers to decide on without a read. */
  entry(key: string): { value: unknown; version: number } {
    return { value: this.assembly.get(key), version: this.versions.get(key) ?? 0 };
  }

  /** The newest version whose config is in force (changes read since wait for the next rebuild). */
  get versionInForce(): number {
    return this.inForce;
  }

  start(pollMs: number): void {
    if (this.poller) return;
    const poller = new Poller(
      () => this.catchUp(),
      pollMs,
      (error) => this.options.logger.warn({ err: error }, 'cannot read config changes; retrying'),
    );
    this.poller = poller;
    this.listener = new NotificationListener(
      this.database.url,
      CONFIG_CHANNEL,
      () => poller.wake(),
      this.options.logger,
    );
    poller.start();
    this.listener.start();
  }

  async stop(): Promise<void> {
    await this.listener?.stop();
    await this.poller?.stop();
    await this.database.pool.end().catch(() => undefined);
  }

  /**
   * Applies the versions after the last one applied, and puts the result in
   * force. Under a stream of changes (programs submitting thousands of jobs)
   * the config is rebuilt at most every REBUILD_MIN_MS, and never so often
   * that rebuilding takes more than a fifth of the time: changes that come
   * meanwhile join the next rebuild.
   */
  async catchUp(): Promise<void> {
    let pending = false;
    for (;;) {
      const changes = await configChangesSince(this.database.pool, this.applied);
      for (const change of changes) this.set(change);
      if (changes.length > 0) {
        this.applied = changes.at(-1)!.version;
        pending = true;
      }
      if (!pending) return;
      const wait = this.nextRebuildAt - performance.now();
      if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      const started = performance.now();
      this.accept();
      pending = false;
      const took = performance.now() - started;
      this.nextRebuildAt = started + Math.max(REBUILD_MIN_MS, took * REBUILD_SPACING);
    }
  }

  private set(entry: ConfigEntryRow): void {
    this.assembly.set(entry.key, entry.value, entry.ordinal);
    if (entry.value === undefined) this.versions.delete(entry.key);
    else this.versions.set(entry.key, entry.version);
  }

  private accept(): void {
    const previous = this.state.config;
    let config: Config;
    try {
      config = this.checked(this.assembly.build());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const changed = this.state.error?.message !== error.message;
      this.state = { ...this.state, error: error };
      if (changed) this.options.onChange?.(this.state, previous);
      return;
    }
    this.inForce = this.applied;
    this.state = {
      config,
      error: undefined,
      generation: this.state.generation + 1,
      hash: hashOf(this.applied),
    };
    this.options.onChange?.(this.state, previous);
  }

  private checked(config: Config): Config {
    return this.options.check?.(config) ?? config;
  }
}

function hashOf(version: number): string {
  return `config-version:${version}`;
}
