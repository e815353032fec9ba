/**
 * State on PostgreSQL: statuses, running-task rows and task logs in the
 * database; this host's launch records in the data dir's statuses.sqlite.
 * Opening migrates the schema (or refuses a newer one).
 */
import { join } from 'node:path';
import type { RunningTask } from '../../statuses/runningTask.js';
import type { TaskStatuses } from '../../statuses/taskStatuses.js';
import type { TaskStorage } from '../storage.js';
import { StatusStore } from '../statusStore.js';
import type { StoreHealth } from '../storeHealth.js';
import { openPool, type PgPool } from './connection.js';
import { migrate } from './migrations.js';
import { PgStatusStore, type PgStatusStoreEvents } from './pgStatusStore.js';
import { PgTaskLogStore } from './pgTaskLogStore.js';
import { SharedTaskState } from './sharedTaskState.js';

export interface PgStorageOptions {
  readonly url: string;
  readonly dataDir: string;
  readonly health: StoreHealth;
  /** The leader's term for fenced writes; undefined when not leading. */
  readonly term: () => number | undefined;
  /** The worker incarnation tasks of this process run under. */
  readonly incarnation: () => string | undefined;
  readonly queryTimeoutMs: number;
  readonly events?: PgStatusStoreEvents;
  /** The worker name every task log line written here carries. */
  readonly worker?: string;
}

export class PgStorage implements TaskStorage {
  readonly kind = 'postgres';
  readonly state: SharedTaskState;
  readonly logs: PgTaskLogStore;
  readonly launchRecords: StatusStore;
  readonly statuses: PgStatusStore;

  private constructor(
    readonly pool: PgPool,
    private readonly options: PgStorageOptions,
  ) {
    this.launchRecords = new StatusStore(join(options.dataDir, 'statuses.sqlite'), options.health);
    this.statuses = new PgStatusStore(pool, options.health, options.term, options.events);
    this.state = new SharedTaskState(this.launchRecords, this.statuses);
    this.logs = new PgTaskLogStore(pool, options.health, options.worker);
  }

  /** Opens the local launch records; the database is not touched until migrate(). */
  static create(options: PgStorageOptions): PgStorage {
    return new PgStorage(openPool(options.url, { queryTimeoutMs: options.queryTimeoutMs, max: 6 }), options);
  }

  /** Brings the schema up to date (or refuses a newer one); closes everything on failure. */
  async migrate(): Promise<void> {
    try {
      await migrate(this.pool);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  static async open(options: PgStorageOptions): Promise<PgStorage> {
    const storage = PgStorage.create(options);
    await storage.migrate();
    return storage;
  }

  async load(statuses: TaskStatuses): Promise<number> {
    return (await this.statuses.loadStatuses(statuses)).statuses;
  }

  dispatch(task: RunningTask): Promise<void> {
    const term = this.options.term();
    const incarnation = this.options.incarnation();
    if (term === undefined) return Promise.reject(new Error('not the leader'));
    if (incarnation === undefined) return Promise.reject(new Error('no fresh worker lease'));
    return this.statuses.dispatch({ task, incarnation }, term);
  }

  async drain(timeoutMs = 10_000): Promise<boolean> {
    this.launchRecords.flush();
    const [statuses] = await Promise.all([this.statuses.drain(timeoutMs), this.logs.write()]);
    return statuses;
  }

  async close(): Promise<void> {
    await this.statuses.close();
    await this.logs.close();
    this.launchRecords.close();
    await this.pool.end().catch(() => undefined);
  }
}
