/**
 * The node list in columnar form: parallel arrays indexed by
 * node position, so a million nodes cost a few arrays rather than a million
 * objects, and the scheduling core can walk parents by index.
 *
 * Position 0 is always the instance node. Names may repeat (replicas: the
 * same shard under two parents); replicas share a status and a resource
 * budget, which the scheduler resolves by name.
 */
import { nodeNameProblem } from '../config/values.js';
import { runSteps, SLICE_ITERATIONS, type Steps } from './eventLoopSlicer.js';

/** A node name that no task could be given; the source that made it fails its refresh. */
export class NodeNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeNameError';
  }
}

export interface NodeSpec {
  readonly name: string;
  readonly level: number;
  /** Index of the parent node; -1 only for the instance node. */
  readonly parent: number;
  readonly enabled: boolean;
  readonly tags?: readonly string[];
}

export class NodeSet {
  private byName: Map<string, number[]> | undefined;
  private byLevel: Int32Array[] | undefined;

  constructor(
    readonly names: readonly string[],
    readonly levels: Uint16Array,
    readonly parents: Int32Array,
    readonly enabled: Uint8Array,
    /** Sorted tags by node position, for the nodes that have any (most have none: no slot per node). */
    private readonly tags: ReadonlyMap<number, readonly string[]>,
    readonly levelCount: number,
  ) {}

  get size(): number {
    return this.names.length;
  }

  node(index: number): NodeSpec {
    return {
      name: this.names[index]!,
      level: this.levels[index]!,
      parent: this.parents[index]!,
      enabled: this.enabled[index] === 1,
      tags: this.tags.get(index) ?? [],
    };
  }

  /** The node's sorted tags, or undefined for none. */
  tagsOf(index: number): readonly string[] | undefined {
    return this.tags.get(index);
  }

  /** Positions of every replica named `name`. */
  indicesOf(name: string): readonly number[] {
    if (!this.byName) {
      this.byName = new Map();
      for (let i = 0; i < this.names.length; i++) {
        const list = this.byName.get(this.names[i]!);
        if (list) list.push(i);
        else this.byName.set(this.names[i]!, [i]);
      }
    }
    return this.byName.get(name) ?? [];
  }

  /** Positions of the nodes at `level`, in list order. */
  atLevel(level: number): Int32Array {
    if (!this.byLevel) runSteps(this.levelLists());
    return this.byLevel![level] ?? new Int32Array(0);
  }

  /** Makes the lists atLevel reads, yielding between slices (a no-op once made). */
  *levelLists(): Steps<void> {
    if (this.byLevel) return;
    const counts = new Int32Array(this.levelCount);
    for (let i = 0; i < this.levels.length; i++) {
      counts[this.levels[i]!]!++;
      if (i % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) yield;
    }
    const lists = Array.from(counts, (count) => new Int32Array(count));
    const fill = new Int32Array(this.levelCount);
    for (let i = 0; i < this.levels.length; i++) {
      const level = this.levels[i]!;
      lists[level]![fill[level]!++] = i;
      if (i % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) yield;
    }
    // atLevel may have made them while this one paused.
    this.byLevel ??= lists;
  }

  /** Names from the instance node down to `index`. */
  pathTo(index: number): string[] {
    const path: string[] = [];
    for (let at = index; at >= 0; at = this.parents[at]!) path.push(this.names[at]!);
    return path.reverse();
  }
}

/** Appends nodes; sources may look at nodes that earlier sources added. */
export class NodeSetBuilder {
  private readonly names: string[] = [];
  // Typed columns from the start, grown by doubling: building them from arrays of numbers at the
  // end was one long block of the event loop at millions of nodes, and twice the memory meanwhile.
  private levels = new Uint16Array(1024);
  private parents = new Int32Array(1024);
  private enabled = new Uint8Array(1024);
  private readonly tags = new Map<number, readonly string[]>();

  /**
   * @param levelCount number of levels including `instance` and `worker`.
   */
  constructor(
    instanceName: string,
    readonly levelCount: number,
  ) {
    this.add({ name: instanceName, level: 0, parent: -1, enabled: true });
  }

  /** Deepest level a node may have: the last configured level (`worker` has no nodes). */
  get maxLevel(): number {
    return this.levelCount - 2;
  }

  get size(): number {
    return this.names.length;
  }

  /** Adds a node; throws NodeNameError for a name no task could be given (see nodeNameProblem). */
  add(node: NodeSpec): number {
    const problem = nodeNameProblem(node.name);
    if (problem !== undefined) throw new NodeNameError(problem);
    const index = this.names.length;
    if (index === this.levels.length) this.grow();
    this.names.push(node.name);
    this.levels[index] = node.level;
    this.parents[index] = node.parent;
    this.enabled[index] = node.enabled ? 1 : 0;
    if (node.tags && node.tags.length > 0) this.tags.set(index, [...new Set(node.tags)].sort());
    return index;
  }

  nameOf(index: number): string {
    return this.names[index]!;
  }

  /** Every node currently at `level`, enabled or not, in list order. */
  nodesAtLevel(level: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.names.length; i++) if (this.levels[i] === level) out.push(i);
    return out;
  }

  build(): NodeSet {
    const size = this.names.length;
    return new NodeSet(
      this.names,
      this.levels.slice(0, size),
      this.parents.slice(0, size),
      this.enabled.slice(0, size),
      this.tags,
      this.levelCount,
    );
  }

  private grow(): void {
    const capacity = this.levels.length * 2;
    const levels = new Uint16Array(capacity);
    levels.set(this.levels);
    const parents = new Int32Array(capacity);
    parents.set(this.parents);
    const enabled = new Uint8Array(capacity);
    enabled.set(this.enabled);
    this.levels = levels;
    this.parents = parents;
    this.enabled = enabled;
  }
}
