/**
 * Whether each store can write, and what was lost while it could not. A
 * full disk (SQLITE_FULL) or an I/O error must never stop the scheduler:
 * the stores keep statuses and task events in memory and retry, drop task
 * output first (counted), and report through this object, which the daemon
 * turns into log lines, the `errors` handler (and the UI's banner) and
 * metrics.
 */
export type StoreName = 'statuses' | 'task_logs';

/** How long a failing store waits between write attempts. */
export const STORE_RETRY_MS = 1000;

export interface StoreHealthListener {
  /** `problem` is the failure message, or undefined when the store writes again. */
  onChange(store: StoreName, problem: string | undefined): void;
}

export class StoreHealth {
  private readonly failing = new Map<StoreName, string>();
  readonly writeFailures: Record<StoreName, number> = { statuses: 0, task_logs: 0 };
  /** stdout/stderr lines not stored because the log store could not write. */
  droppedLogLines = 0;
  /** Task events not stored because the queue kept for retries was full. */
  droppedEvents = 0;

  constructor(private readonly listener?: StoreHealthListener) {}

  failed(store: StoreName, error: unknown): void {
    this.writeFailures[store]++;
    const code = (error as { code?: unknown }).code;
    const problem = `${store} cannot be written${typeof code === 'string' ? ` (${code})` : ''}: ${(error as Error).message}`;
    const was = this.failing.get(store);
    this.failing.set(store, problem);
    if (was === undefined) this.listener?.onChange(store, problem);
  }

  succeeded(store: StoreName): void {
    if (!this.failing.delete(store)) return;
    this.listener?.onChange(store, undefined);
  }

  /**
   * For a failing store with nothing queued to retry with: tries `write`
   * (a probe) and records the outcome; returns whether the store writes again.
   */
  probe(store: StoreName, write: () => void): boolean {
    try {
      write();
    } catch (error) {
      this.failed(store, error);
      return false;
    }
    this.succeeded(store);
    return true;
  }

  /** Whether any store fails (one read on the hot path of appending log lines). */
  get anyFailing(): boolean {
    return this.failing.size > 0;
  }

  isFailing(store: StoreName): boolean {
    return this.failing.has(store);
  }

  /** One message per failing store. */
  problems(): string[] {
    return [...this.failing.values()];
  }
}
