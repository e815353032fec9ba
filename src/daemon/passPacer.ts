/**
 * When the next scheduling pass runs: every `working_wait` while tasks run
 * (`idle_wait` otherwise), and soon after a task completes -- but never so
 * often that passes take more than about a fifth of the time.
 */
import type { Logger } from '../logging/logger.js';
import type { Settings } from '../config/settings.js';
import { ErrorKeys } from '../scheduler/pass.js';
import type { ErrorRegistry } from './errorRegistry.js';

export interface PacedPass {
  /** Runs one pass; returns whether tasks are running (undefined: could not run). */
  run(): { readonly busy: boolean } | undefined;
  /** How long the last pass's decisions took, in ms. */
  lastDecisionMs(): number;
}

export class PassPacer {
  private timer: NodeJS.Timeout | undefined;
  private at = Infinity;
  private lastEnd = 0;
  private running = false;

  constructor(
    private readonly pass: PacedPass,
    private readonly settings: () => Settings,
    private readonly errors: ErrorRegistry,
    private readonly logger: Logger,
  ) {}

  /** Passes may run from now on. */
  start(): void {
    this.running = true;
    this.request(0);
  }

  /** No pass runs after this. */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Schedules a pass in `delayMs` (or when the budget allows, if later) unless one is due sooner. */
  request(delayMs: number): void {
    // Nothing runs before start() or after stop(): a start that fails (say, the API port
    // is taken) must not leave tasks running behind the error.
    if (!this.running) return;
    // Whatever asks (a completion, a config change, a forgive), passes stay within their budget.
    delayMs = Math.max(delayMs, this.budgetGapMs());
    const at = performance.now() + delayMs;
    if (this.timer && at >= this.at) return;
    if (this.timer) clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(() => this.loop(), Math.max(0, delayMs));
  }

  /** A task completed: a pass soon, within the fifth-of-the-time budget. */
  taskCompleted(): void {
    this.request(0);
  }

  /** How long until the next pass keeps passes within a fifth of the time. */
  private budgetGapMs(): number {
    return Math.max(0, this.lastEnd + 4 * this.pass.lastDecisionMs() - performance.now());
  }

  private loop(): void {
    this.timer = undefined;
    this.at = Infinity;
    let busy = true;
    try {
      busy = this.pass.run()?.busy ?? true;
    } catch (error) {
      this.errors.set(ErrorKeys.mainLoop, [`Pass failed: ${(error as Error).message}`]);
      this.logger.error({ err: error }, 'scheduling pass failed');
    }
    this.lastEnd = performance.now();
    const settings = this.settings();
    const waitSec = settings.enabled && busy ? settings.workingWaitSec : settings.idleWaitSec;
    this.request(waitSec * 1000);
  }
}
