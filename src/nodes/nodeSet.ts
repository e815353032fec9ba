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
import { NameInterner } from './nameInterner.js';

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
  private byLevel: Int32Array[] | undefined;

  constructor(
    /** Where the names live: each node holds its name's id, not a string of its own. */
    readonly interner: NameInterner,
    /** The interned name of each node. */
    readonly nameIds: Int32Array,
    readonly levels: Uint16Array,
    readonly parents: Int32Array,
    readonly enabled: Uint8Array,
    /** Sorted tags by node position, for the nodes that have any (most have none: no slot per node). */
    private readonly tags: ReadonlyMap<number, readonly string[]>,
    readonly levelCount: number,
  ) {}

  get size(): number {
    return this.nameIds.length;
  }

  /** The node's name. */
  name(index: number): string {
    return this.interner.name(this.nameIds[index]!);
  }

  node(index: number): NodeSpec {
    return {
      name: this.name(index),
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

  /** Positions of every replica named `name` (a scan of the ids: no map of every name is kept). */
  indicesOf(name: string): readonly number[] {
    const nameId = this.interner.lookup(name);
    const out: number[] = [];
    if (nameId < 0) return out;
    for (let at = this.nameIds.indexOf(nameId); at >= 0; at = this.nameIds.indexOf(nameId, at + 1))
      out.push(at);
    return out;
  }

  /** Whether some node is named `name`. */
  has(name: string): boolean {
    const nameId = this.interner.lookup(name);
    return nameId >= 0 && this.nameIds.includes(nameId);
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

  /**
   * Whether `other` lists the same nodes (names, levels, parents, enabled
   * flags and tags, in the same order), yielding between slices: a refresh
   * that finds the nodes unchanged keeps the set it has, and with it every
   * index and mask built for it.
   */
  *sameAs(other: NodeSet): Steps<boolean> {
    if (
      other.interner !== this.interner ||
      other.size !== this.size ||
      other.levelCount !== this.levelCount ||
      other.tags.size !== this.tags.size
    )
      return false;
    const columns = [
      [this.nameIds, other.nameIds],
      [this.levels, other.levels],
      [this.parents, other.parents],
      [this.enabled, other.enabled],
    ] as const;
    for (const [mine, theirs] of columns) {
      for (let i = 0; i < mine.length; i++) {
        if (mine[i] !== theirs[i]) return false;
        if (i % (SLICE_ITERATIONS * 16) === SLICE_ITERATIONS * 16 - 1) yield;
      }
    }
    for (const [index, tags] of this.tags) {
      const theirs = other.tags.get(index);
      if (!theirs || theirs.length !== tags.length || tags.some((tag, i) => tag !== theirs[i])) return false;
    }
    return true;
  }

  /** Names from the instance node down to `index`. */
  pathTo(index: number): string[] {
    const path: string[] = [];
    for (let at = index; at >= 0; at = this.parents[at]!) path.push(this.name(at));
    return path.reverse();
  }
}

/** Appends nodes; sources may look at nodes that earlier sources added. */
export class NodeSetBuilder {
  private size_ = 0;
  // Typed columns from the start, grown by doubling: building them from arrays of numbers at the
  // end was one long block of the event loop at millions of nodes, and twice the memory meanwhile.
  // A name is interned as it is added: a refresh that lists the same names again keeps none of
  // its strings (they die young), where a string per node and refresh made the collector's
  // pauses grow with the node count.
  private nameIds = new Int32Array(1024);
  private levels = new Uint16Array(1024);
  private parents = new Int32Array(1024);
  private enabled = new Uint8Array(1024);
  private readonly tags = new Map<number, readonly string[]>();

  /**
   * @param levelCount number of levels including `instance` and `worker`.
   * @param names the interner the node set's names go to (the scheduler's, shared with its statuses).
   */
  constructor(
    instanceName: string,
    readonly levelCount: number,
    readonly names: NameInterner = new NameInterner(),
  ) {
    this.add({ name: instanceName, level: 0, parent: -1, enabled: true });
  }

  /** Deepest level a node may have: the last configured level (`worker` has no nodes). */
  get maxLevel(): number {
    return this.levelCount - 2;
  }

  get size(): number {
    return this.size_;
  }

  /** Adds a node; throws NodeNameError for a name no task could be given (see nodeNameProblem). */
  add(node: NodeSpec): number {
    const problem = nodeNameProblem(node.name);
    if (problem !== undefined) throw new NodeNameError(problem);
    const index = this.size_;
    if (index === this.levels.length) this.grow();
    this.nameIds[index] = this.names.intern(node.name);
    this.levels[index] = node.level;
    this.parents[index] = node.parent;
    this.enabled[index] = node.enabled ? 1 : 0;
    if (node.tags && node.tags.length > 0) this.tags.set(index, [...new Set(node.tags)].sort());
    this.size_++;
    return index;
  }

  nameOf(index: number): string {
    return this.names.name(this.nameIds[index]!);
  }

  /** Every node currently at `level`, enabled or not, in list order. */
  nodesAtLevel(level: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size_; i++) if (this.levels[i] === level) out.push(i);
    return out;
  }

  build(): NodeSet {
    const size = this.size_;
    return new NodeSet(
      this.names,
      this.nameIds.slice(0, size),
      this.levels.slice(0, size),
      this.parents.slice(0, size),
      this.enabled.slice(0, size),
      this.tags,
      this.levelCount,
    );
  }

  private grow(): void {
    const capacity = this.levels.length * 2;
    this.nameIds = grown(this.nameIds, new Int32Array(capacity));
    this.levels = grown(this.levels, new Uint16Array(capacity));
    this.parents = grown(this.parents, new Int32Array(capacity));
    this.enabled = grown(this.enabled, new Uint8Array(capacity));
  }
}

function grown<T extends Int32Array | Uint16Array | Uint8Array>(from: T, into: T): T {
  into.set(from);
  return into;
}
