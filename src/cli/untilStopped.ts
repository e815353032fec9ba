/**
 * The foreground life of a long-running command (`scheduler`, `worker`):
 * the first TERM, INT or QUIT stops it, a second escalates (SIGKILL now).
 * A stop always ends the process, even if something a task left behind
 * keeps the event loop alive; the exit code is 1 when a process of ours
 * that was found survived.
 */
import type { Logger } from '../logging/logger.js';
import type { AbandonedTask } from '../runners/runner.js';
import { CliExit } from './output.js';

export interface Stoppable {
  stop(): Promise<readonly AbandonedTask[]>;
  escalate(): void;
}

export async function runUntilStopped(target: Stoppable, logger: Logger): Promise<void> {
  const abandoned = await new Promise<readonly AbandonedTask[]>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      logger.warn({ signal }, signals === 1 ? 'stopping' : 'stopping now');
      if (signals === 1) void target.stop().then(resolve);
      else target.escalate();
    };
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, onSignal);
  });
  logger.flush();
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
  if (abandoned.some((task) => task.pids.length > 0)) throw new CliExit(1);
}
