/** Deletes task log rows older than the retention, at start and every `--log-prune-frequency` seconds. */
import type { Logger } from '../logging/logger.js';
import type { TaskLogStore } from '../store/taskLogStore.js';

export class LogPruner {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: TaskLogStore,
    private readonly retentionSec: number,
    /** <= 0 disables pruning. */
    private readonly frequencySec: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.frequencySec <= 0) return;
    try {
      const deleted = this.store.prune(this.retentionSec);
      if (deleted > 0) this.logger.info({ deleted }, 'pruned task logs');
    } catch (error) {
      this.logger.error({ err: error }, 'task log pruning failed');
    }
    this.timer = setTimeout(() => this.start(), this.frequencySec * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
