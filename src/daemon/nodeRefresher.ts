/**
 * Keeps the node set fresh: refresh every
 * `--nodes-update-ms`, or `--nodes-retry-ms` after a failure, and at once
 * when the config's levels or node sources change.
 *
 * Deliberate change from the original: a failed refresh keeps the last good
 * node set (and reports the error) instead of discarding it, so a flaky
 * source cannot make every running task look orphaned.
 */
import type { Settings } from '../config/settings.js';
import type { Logger } from '../logging/logger.js';
import { EventLoopSlicer, runStepsSliced } from '../nodes/eventLoopSlicer.js';
import { fetchNodes } from '../nodes/fetchNodes.js';
import type { NameInterner } from '../nodes/nameInterner.js';
import type { NodeSet } from '../nodes/nodeSet.js';

export interface NodeRefresherOptions {
  readonly instanceName: string;
  /** The interner the node names go to (the scheduler's statuses'). */
  readonly names?: NameInterner;
  readonly updateMs: number;
  readonly retryMs: number;
  readonly logger: Logger;
  readonly onRefresh?: () => void;
  /** Runs on a new node set before it replaces the current one (what passes will need of it). */
  readonly prepare?: (nodes: NodeSet) => Promise<void>;
}

export class NodeRefresher {
  private nodes: NodeSet | undefined;
  /** The levels, and the levels and sources, the current node set was built from. */
  private builtForLevels = '';
  private builtFrom = '';
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private settings: () => Settings,
    private readonly options: NodeRefresherOptions,
  ) {}

  /** The node set, if it was built for the given settings' levels (level ids must agree). */
  current(settings: Settings): NodeSet | undefined {
    return this.builtForLevels === JSON.stringify(settings.levels) ? this.nodes : undefined;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** Refreshes now (coalescing concurrent requests) and re-arms the timer. */
  refresh(): Promise<void> {
    this.running ??= this.doRefresh().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Refreshes at once if the levels or node sources changed since the last build. */
  onConfigChange(settings: Settings): void {
    if (sourcesKey(settings) !== this.builtFrom) void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** A failed preparation costs only time: the first pass over the nodes builds what it needs. */
  private async prepareQuietly(nodes: NodeSet): Promise<void> {
    try {
      await this.options.prepare?.(nodes);
    } catch (error) {
      this.options.logger.warn(
        { error: (error as Error).message },
        'could not prepare the new node set ahead',
      );
    }
  }

  private async doRefresh(): Promise<void> {
    const settings = this.settings();
    let delay = this.options.updateMs;
    try {
      const started = performance.now();
      const nodes = await fetchNodes(settings, {
        instanceName: this.options.instanceName,
        names: this.options.names,
      });
      // Most refreshes list the same nodes again: the set in use is kept (and every index and
      // eligibility mask made for it), only a changed one is prepared and swapped in.
      const slicer = new EventLoopSlicer();
      const unchanged =
        this.nodes !== undefined &&
        this.current(settings) === this.nodes &&
        (await runStepsSliced(this.nodes.sameAs(nodes), () => slicer.due()));
      if (!unchanged) {
        await this.prepareQuietly(nodes);
        this.nodes = nodes;
      }
      this.builtFrom = sourcesKey(settings);
      this.builtForLevels = JSON.stringify(settings.levels);
      if (this.lastError) this.options.logger.info('node refresh recovered');
      this.lastError = undefined;
      this.options.logger.debug(
        { nodes: nodes.size, unchanged, ms: Math.round(performance.now() - started) },
        'nodes refreshed',
      );
    } catch (error) {
      this.lastError = `Error getting nodes: ${(error as Error).message}`;
      this.options.logger.error(
        { error: (error as Error).message },
        'node refresh failed; keeping the last good node set',
      );
      delay = this.options.retryMs;
    }
    if (this.timer) clearTimeout(this.timer);
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.refresh(), delay);
      this.timer.unref();
    }
    this.options.onRefresh?.();
  }
}

function sourcesKey(settings: Settings): string {
  return JSON.stringify([settings.levels, settings.nodeSources]);
}
