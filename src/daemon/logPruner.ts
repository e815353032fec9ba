/** Deletes task log rows older than the retention, at start and every `--log-prune-frequency` seconds. */
import type { Logger } from '../logging/logger.js';
import type { TaskLogs } from '../store/taskLogStore.js';

export class LogPruner {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly store: TaskLogs,
    private readonly retentionSec: number,
    /** <= 0 disables pruning. */
    private readonly frequencySec: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.frequencySec <= 0) return;
    void this.pruneOnce().finally(() => {
      if (this.stopped) return;
      this.timer = setTimeout(() => this.start(), this.frequencySec * 1000);
      this.timer.unref();
    });
  }

  private async pruneOnce(): Promise<void> {
    try {
      const deleted = await this.store.prune(this.retentionSec);
      if (deleted > 0) this.logger.info({ deleted }, 'pruned task logs');
    } catch (error) {
      this.logger.error({ err: error }, 'task log pruning failed');
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
