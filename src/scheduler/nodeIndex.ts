/**
 * Everything about a node set that does not change between passes, computed
 * once per (node set, levels, resources): interned name ids, the resource
 * budget each node draws on (replicas -- same name at the same level -- share
 * one), the limits, and whether each node's whole path is enabled.
 */
import type { ResourceDefinition } from '../config/resources.js';
import type { NameInterner } from '../nodes/nameInterner.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import { runSteps, runStepsSliced, SLICE_ITERATIONS, type Steps } from '../nodes/eventLoopSlicer.js';

/** Per level with resources: budget by name id (a column for a level of many nodes, else a map). */
type BudgetsByName = ReadonlyMap<number, Int32Array | ReadonlyMap<number, number>>;

/** Int32s per node in `NodeIndex.pathSteps`. */
export const PATH_STEP = 3;

export class NodeIndex {
  /** Interned name id of each node. */
  readonly nameIds: Int32Array;
  /**
   * Per node, packed: its parent (-1 for the instance), the offset of its
   * budget's slots in the availability array (-1 if its level defines no
   * resources), and its level. What a walk up a node's path reads, in one
   * place.
   */
  readonly pathSteps: Int32Array;
  /** Offset of each budget's slots in the availability array. */
  readonly budgetBase: Int32Array;
  /** First node of each budget (for messages). */
  readonly budgetNode: Int32Array;
  /** Initial availability: the limits, one slot per (budget, resource at its level). */
  readonly limits: Int32Array;
  /** Per level: indices into `resources` of the resources defined there. */
  readonly levelResources: readonly (readonly number[])[];
  /** Per resource: its slot position within a budget of its level. */
  readonly resourceSlot: Int32Array;
  /** 1 if the node and every ancestor are enabled. */
  readonly pathEnabled: Uint8Array;
  /** By name id: 1 if some replica with that name is enabled. */
  readonly enabledByName: Uint8Array;
  private readonly budgetByName: BudgetsByName;
  private readonly lexicographicRanks = new Map<number, Int32Array>();

  private constructor(
    readonly nodes: NodeSet,
    readonly resources: readonly ResourceDefinition[],
    readonly names: NameInterner,
    parts: IndexParts,
  ) {
    this.nameIds = parts.nameIds;
    this.pathSteps = parts.pathSteps;
    this.budgetBase = parts.budgetBase;
    this.budgetNode = parts.budgetNode;
    this.limits = parts.limits;
    this.levelResources = parts.levelResources;
    this.resourceSlot = parts.resourceSlot;
    this.pathEnabled = parts.pathEnabled;
    this.enabledByName = parts.enabledByName;
    this.budgetByName = parts.budgetByName;
  }

  /** Builds the index in one go. */
  static of(nodes: NodeSet, resources: readonly ResourceDefinition[], names: NameInterner): NodeIndex {
    return new NodeIndex(nodes, resources, names, runSteps(indexParts(nodes, resources, names)));
  }

  /**
   * Builds the index a slice at a time, awaiting `pause()` between slices
   * (EventLoopSlicer): at millions of nodes, a second of work the event loop
   * would otherwise be held for.
   */
  static async sliced(
    nodes: NodeSet,
    resources: readonly ResourceDefinition[],
    names: NameInterner,
    pause: () => Promise<void> | undefined,
  ): Promise<NodeIndex> {
    const parts = await runStepsSliced(indexParts(nodes, resources, names), pause);
    return new NodeIndex(nodes, resources, names, parts);
  }

  /** Budget of the node named `nameId` at `level`, or -1. */
  budgetFor(level: number, nameId: number): number {
    const byName = this.budgetByName.get(level);
    if (!byName || nameId < 0) return -1;
    if (!(byName instanceof Int32Array)) return byName.get(nameId) ?? -1;
    return nameId < byName.length ? byName[nameId]! : -1;
  }

  isEnabledName(nameId: number): boolean {
    return nameId >= 0 && nameId < this.enabledByName.length && this.enabledByName[nameId] === 1;
  }

  /** By node position in the list: the rank of the node's name among `level`'s, in name order (ties keep list order). Cached. */
  lexicographicRank(level: number): Int32Array {
    let rank = this.lexicographicRanks.get(level);
    if (!rank) {
      const atLevel = this.nodes.atLevel(level);
      // Each name made once for the sort (node sets hold ids), in level order.
      const names = Array.from(atLevel, (node) => this.nodes.name(node));
      const byName = Int32Array.from(atLevel, (_, k) => k).sort((a, b) => {
        const x = names[a]!;
        const y = names[b]!;
        return x < y ? -1 : x > y ? 1 : a - b;
      });
      rank = new Int32Array(this.nodes.size);
      for (let r = 0; r < byName.length; r++) rank[atLevel[byName[r]!]!] = r;
      this.lexicographicRanks.set(level, rank);
    }
    return rank;
  }
}

/** What the build makes: the index's columns, and its budgets by name. */
type IndexParts = Pick<
  NodeIndex,
  | 'nameIds'
  | 'pathSteps'
  | 'budgetBase'
  | 'budgetNode'
  | 'limits'
  | 'levelResources'
  | 'resourceSlot'
  | 'pathEnabled'
  | 'enabledByName'
> & { readonly budgetByName: BudgetsByName };

const SLICE = SLICE_ITERATIONS;

/** The index's columns, built step by step: it yields between slices (see NodeIndex.sliced). */
function* indexParts(
  nodes: NodeSet,
  resources: readonly ResourceDefinition[],
  names: NameInterner,
): Steps<IndexParts> {
  const size = nodes.size;
  yield* nodes.levelLists();
  // The node set's names are interned where it was built: the scheduler's interner, usually.
  let nameIds = nodes.nameIds;
  if (nodes.interner !== names) {
    nameIds = new Int32Array(size);
    yield* names.reserving(names.size + size);
    for (let i = 0; i < size; i++) {
      nameIds[i] = names.intern(nodes.name(i));
      if (i % SLICE === SLICE - 1) yield;
    }
  }

  const levelResources: number[][] = Array.from({ length: nodes.levelCount }, () => []);
  const resourceSlot = new Int32Array(resources.length);
  resources.forEach((resource, r) => {
    const list = levelResources[resource.levelId];
    if (!list) return;
    resourceSlot[r] = list.length;
    list.push(r);
  });

  const budgetByName = new Map<number, Int32Array | Map<number, number>>();
  const budgetOf = new Int32Array(size).fill(-1);
  const bases: number[] = [];
  const firstNodes: number[] = [];
  let slots = 0;
  for (let level = 0; level < nodes.levelCount; level++) {
    const width = levelResources[level]!.length;
    if (width === 0) continue;
    const atLevel = nodes.atLevel(level);
    // A column of every name id costs 4 bytes per name: at ten million names, 40 MB for a
    // level of a hundred thousand hosts. A level that few names use gets a map.
    const byName =
      atLevel.length * 8 >= names.size ? new Int32Array(names.size).fill(-1) : new Map<number, number>();
    for (let k = 0; k < atLevel.length; k++) {
      const node = atLevel[k]!;
      if (k % SLICE === SLICE - 1) yield;
      const nameId = nameIds[node]!;
      let budget = byName instanceof Map ? (byName.get(nameId) ?? -1) : byName[nameId]!;
      if (budget < 0) {
        budget = bases.length;
        if (byName instanceof Map) byName.set(nameId, budget);
        else byName[nameId] = budget;
        bases.push(slots);
        firstNodes.push(node);
        slots += width;
      }
      budgetOf[node] = budget;
    }
    budgetByName.set(level, byName);
  }
  const budgetBase = Int32Array.from(bases);
  yield;
  const pathSteps = new Int32Array(size * PATH_STEP);
  for (let i = 0; i < size; i++) {
    const budget = budgetOf[i]!;
    pathSteps[i * PATH_STEP] = nodes.parents[i]!;
    pathSteps[i * PATH_STEP + 1] = budget >= 0 ? budgetBase[budget]! : -1;
    pathSteps[i * PATH_STEP + 2] = nodes.levels[i]!;
    if (i % SLICE === SLICE - 1) yield;
  }
  const budgetNode = Int32Array.from(firstNodes);
  yield;
  const limits = new Int32Array(slots);
  for (let b = 0; b < budgetBase.length; b++) {
    const list = levelResources[nodes.levels[budgetNode[b]!]!]!;
    for (let k = 0; k < list.length; k++) limits[budgetBase[b]! + k] = resources[list[k]!]!.limit;
    if (b % SLICE === SLICE - 1) yield;
  }

  const pathEnabled = new Uint8Array(size);
  const enabledByName = new Uint8Array(names.size);
  for (let i = 0; i < size; i++) {
    // Parents come before children in the list, so the parent's flag is final.
    const parent = nodes.parents[i]!;
    pathEnabled[i] = nodes.enabled[i]! & (parent >= 0 ? pathEnabled[parent]! : 1);
    if (nodes.enabled[i]) enabledByName[nameIds[i]!] = 1;
    if (i % SLICE === SLICE - 1) yield;
  }
  return {
    nameIds,
    pathSteps,
    budgetBase,
    budgetNode,
    limits,
    levelResources,
    resourceSlot,
    pathEnabled,
    enabledByName,
    budgetByName,
  };
}
