/**
 * Turns the stores' health into what an operator sees: a warning when a
 * store stops writing and a note when it writes again (with what was lost),
 * an `errors` entry (the UI's banner) while any store fails, and metrics.
 * When writes work again, the data dir's space reserve is restored.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logging/logger.js';
import type { SpaceReserve } from '../store/spaceReserve.js';
import { StoreHealth, type StoreName } from '../store/storeHealth.js';
import type { ErrorRegistry } from './errorRegistry.js';

export const STORE_ERROR_KEY = 'Store';

export function reportingStoreHealth(
  logger: Logger,
  errors: ErrorRegistry,
  reserve: SpaceReserve,
  /** Frees what space the stores can (their WALs) when one stops writing. */
  reclaim: () => void,
): StoreHealth {
  const health: StoreHealth = new StoreHealth({
    onChange(store: StoreName, problem: string | undefined) {
      if (problem !== undefined) {
        // Statuses come first: the reserved space is theirs.
        if (store === 'statuses') reserve.release();
        reclaim();
        logger.error(
          { store },
          `${problem}; statuses and task events are kept in memory and retried, task output is dropped`,
        );
      } else {
        reserve.restore();
        logger.warn(
          { store, droppedLogLines: health.droppedLogLines, droppedEvents: health.droppedEvents },
          `${store} is written again`,
        );
      }
      errors.set(STORE_ERROR_KEY, health.problems());
    },
  });
  return health;
}

/** Registers the stores' metrics on `registry`. */
export function registerStoreMetrics(registry: Registry, health: StoreHealth): void {
  const stores: StoreName[] = ['statuses', 'task_logs'];
  new Gauge({
    name: 'bistro_store_degraded',
    help: 'Whether a store currently fails to write (1) or not (0)',
    labelNames: ['store'],
    registers: [registry],
    collect() {
      for (const store of stores) this.set({ store }, health.isFailing(store) ? 1 : 0);
    },
  });
  new Counter({
    name: 'bistro_store_write_failures_total',
    help: 'Store writes that failed (a full disk, an I/O error)',
    labelNames: ['store'],
    registers: [registry],
    collect() {
      this.reset();
      for (const store of stores) this.inc({ store }, health.writeFailures[store]);
    },
  });
  new Counter({
    name: 'bistro_task_log_lines_dropped_total',
    help: 'Task output lines not stored because the log store could not write',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(health.droppedLogLines);
    },
  });
  new Counter({
    name: 'bistro_task_events_dropped_total',
    help: 'Task events not stored because the queue kept for retries was full',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(health.droppedEvents);
    },
  });
}
