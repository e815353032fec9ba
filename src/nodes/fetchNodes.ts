/**
 * One node refresh: start from the instance node, run every
 * configured source in order, publish the result. Prefs are checked before
 * anything runs, so a bad source fails the refresh without side effects.
 */
import { formatIssue, type ConfigIssue } from '../config/issues.js';
import { newIssueSink, ObjectReader } from '../config/reader.js';
import type { Settings } from '../config/settings.js';
import { EventLoopSlicer } from './eventLoopSlicer.js';
import type { NameInterner } from './nameInterner.js';
import { NodeNameError, NodeSetBuilder, type NodeSet } from './nodeSet.js';
import { NODE_SOURCES } from './sources/index.js';
import { NodeSourceError, type CompiledNodeSource, type NodeSourceRunContext } from './sources/source.js';

export const DEFAULT_SCRIPT_TIMEOUT_MS = 60_000;

export interface CompiledNodeSources {
  readonly sources: readonly CompiledNodeSource[];
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/** Checks every source's prefs without running anything. */
export function compileNodeSources(settings: Settings): CompiledNodeSources {
  const sink = newIssueSink();
  const sources = settings.nodeSources.map((entry, index) => {
    const prefs = new ObjectReader(
      { ...entry.prefs },
      ['bistro_settings', 'nodes', 'node_sources', index, 'prefs'],
      sink,
    );
    return NODE_SOURCES[entry.source](prefs, settings);
  });
  return { sources, errors: sink.errors, warnings: sink.warnings };
}

export interface FetchNodesOptions {
  readonly instanceName: string;
  /** Epoch seconds; defaults to the current time. */
  readonly now?: number;
  readonly scriptTimeoutMs?: number;
  /** Where the node names are interned: the scheduler's (its statuses'), so its node index reuses the ids. */
  readonly names?: NameInterner;
}

/** Runs the sources; throws `NodeSourceError` if any prefs are invalid or any source fails. */
export async function fetchNodes(settings: Settings, options: FetchNodesOptions): Promise<NodeSet> {
  const compiled = compileNodeSources(settings);
  if (compiled.errors.length > 0) {
    throw new NodeSourceError('config', compiled.errors.map(formatIssue).join('; '));
  }
  const builder = new NodeSetBuilder(options.instanceName, settings.levels.length, options.names);
  const slicer = new EventLoopSlicer();
  const context: NodeSourceRunContext = {
    now: options.now ?? Math.floor(Date.now() / 1000),
    scriptTimeoutMs: options.scriptTimeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS,
    pause: () => slicer.due(),
  };
  for (const source of compiled.sources) {
    try {
      await source.run(builder, context);
    } catch (error) {
      if (error instanceof NodeNameError) throw new NodeSourceError(source.name, error.message);
      throw error;
    }
  }
  return builder.build();
}
