/**
 * What every node source provides: a compile step that checks its prefs
 * without running anything (so `bistro validate` finds mistakes offline), and
 * a run step that appends nodes to the list being built.
 */
import type { ObjectReader } from '../../config/reader.js';
import type { Settings } from '../../config/settings.js';
import type { NodeSetBuilder } from '../nodeSet.js';

export interface NodeSourceRunContext {
  /** Current epoch seconds (add_time). */
  readonly now: number;
  /** Longest a `script` source may run per parent before the refresh fails. */
  readonly scriptTimeoutMs: number;
  /**
   * Awaited when it returns a promise: the refresh has held the event loop
   * long enough and gives it a turn. Sources that add many nodes ask every
   * few thousand (see EventLoopSlicer).
   */
  readonly pause: () => Promise<void> | undefined;
}

/** How many nodes a source adds between two looks at `pause`. */
export const PAUSE_EVERY_NODES = 1024;

export interface CompiledNodeSource {
  readonly name: string;
  run(builder: NodeSetBuilder, context: NodeSourceRunContext): Promise<void> | void;
}

export type NodeSourceCompiler = (prefs: ObjectReader, settings: Settings) => CompiledNodeSource;

/** A failure while running a source: the whole refresh fails and the last good node set stays. */
export class NodeSourceError extends Error {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`node source "${source}": ${message}`);
    this.name = 'NodeSourceError';
  }
}

/** Reads `parent_level` (required) and checks that its children fit in the configured levels. */
export function readParentLevel(prefs: ObjectReader, settings: Settings): number {
  const levels = settings.levels;
  const name = prefs.raw('parent_level');
  if (name === undefined) {
    prefs.missing('parent_level');
    return 0;
  }
  const id = typeof name === 'string' ? levels.indexOf(name) : -1;
  if (typeof name !== 'string' || id < 0 || id === levels.length - 1) {
    prefs.invalid(
      ['parent_level'],
      `expected one of the levels ${levels.slice(0, -1).join(', ')}, received ${JSON.stringify(name)}`,
      name,
    );
    return 0;
  }
  const maxLevel = levels.length - 2;
  if (id + 1 > maxLevel) {
    prefs.invalid(
      ['parent_level'],
      `children of level "${name}" would be at level ${id + 1}, but only ${maxLevel} level(s) are configured; you must define at least ${id + 1} levels`,
      name,
    );
  }
  return id;
}
