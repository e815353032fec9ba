/**
 * Where a scheduler keeps its state: the embedded SQLite files of its data
 * dir, or PostgreSQL (store/postgres/pgStorage.ts) plus this host's launch
 * records. Both present the same contract; one test suite runs on both.
 */
import { join } from 'node:path';
import type { RunningTask } from '../statuses/runningTask.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import { StatusStore, type TaskStateStore } from './statusStore.js';
import type { StoreHealth } from './storeHealth.js';
import { TaskLogStore, type TaskLogs } from './taskLogStore.js';

export interface TaskStorage {
  readonly kind: 'sqlite' | 'postgres';
  readonly state: TaskStateStore;
  readonly logs: TaskLogs;
  /** This host's launch records (restart recovery reads them). */
  readonly launchRecords: StatusStore;
  /** Loads every stored status (and, on a shared store, the running tasks) into `statuses`. */
  load(statuses: TaskStatuses): Promise<number>;
  /**
   * Makes a task about to start durable where schedulers see it (a shared
   * store's running-task row, fenced); resolves when committed. SQLite: at once.
   */
  dispatch(task: RunningTask): Promise<void>;
  /** Waits until queued writes are done (or `timeoutMs` passed); returns whether they are. */
  drain(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export function openSqliteStorage(dataDir: string, health: StoreHealth): TaskStorage {
  const state = new StatusStore(join(dataDir, 'statuses.sqlite'), health);
  const logs = new TaskLogStore(join(dataDir, 'task_logs.sqlite'), health);
  return {
    kind: 'sqlite',
    state,
    logs,
    launchRecords: state,
    load: (statuses) => Promise.resolve(state.loadStatuses(statuses)),
    dispatch: () => Promise.resolve(),
    drain: () => {
      state.flush();
      logs.flush();
      return Promise.resolve(state.pendingCount === 0);
    },
    close: () => {
      state.close();
      logs.close();
      return Promise.resolve();
    },
  };
}
