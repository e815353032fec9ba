/**
 * Resource availability during one pass.
 *
 * A task on node N needs, on every node of N's path to the instance, its
 * job's amount of each resource defined at that node's level. Running tasks
 * are charged what they were charged at start, whatever the config says now.
 * A budget that went negative (the config shrank) blocks every new task that
 * touches it, even one needing 0, until enough tasks end or are killed.
 */
import type { RunningTask } from '../statuses/runningTask.js';
import { PATH_STEP as STEP, type NodeIndex } from './nodeIndex.js';

/** Where a running task's charges landed: slot indices and amounts. */
export interface LedgerCharge {
  readonly slots: Int32Array;
  readonly amounts: Int32Array;
}

export class ResourceLedger {
  readonly available: Int32Array;
  private readonly resourceIndex: ReadonlyMap<string, number>;

  constructor(readonly index: NodeIndex) {
    this.available = index.limits.slice();
    this.resourceIndex = new Map(index.resources.map((resource, r) => [resource.name, r]));
  }

  /**
   * Subtracts a running task's recorded charges. Problems (unknown node or
   * resource) are returned as messages; the task keeps running either way.
   * Where the charges land comes from `placed`, worked out once per task
   * and node index, not at every pass (a pass at a million nodes may find
   * hundreds of thousands of tasks running).
   */
  chargeRunning(task: RunningTask, problems: string[], placed: ChargeSlots): LedgerCharge {
    const { charge, problems: found } = placed.of(task, this.index, this.resourceIndex);
    for (const problem of found) problems.push(problem);
    const { slots, amounts } = charge;
    for (let i = 0; i < slots.length; i++) this.available[slots[i]!]! -= amounts[i]!;
    return charge;
  }

  /** Gives back a charge (an over-commit victim chosen for killing). */
  release(charge: LedgerCharge): void {
    for (let i = 0; i < charge.slots.length; i++) this.available[charge.slots[i]!]! += charge.amounts[i]!;
  }

  /** Slots whose availability is negative. */
  negativeSlots(): number[] {
    const out: number[] = [];
    for (let slot = 0; slot < this.available.length; slot++) if (this.available[slot]! < 0) out.push(slot);
    return out;
  }

  /** Human description of a slot: resource and node. */
  describeSlot(slot: number): { resource: string; node: string; amount: number } {
    const bases = this.index.budgetBase;
    let low = 0;
    let high = bases.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (bases[mid]! <= slot) low = mid;
      else high = mid - 1;
    }
    const node = this.index.budgetNode[low]!;
    const level = this.index.nodes.levels[node]!;
    const r = this.index.levelResources[level]![slot - bases[low]!]!;
    return {
      resource: this.index.resources[r]!.name,
      node: this.index.nodes.name(node),
      amount: this.available[slot]!,
    };
  }

  /**
   * Tries to take `needs` (by resource index) on the path from `node` up.
   * Returns false and changes nothing if any slot lacks room.
   */
  tryTake(node: number, needs: Int32Array): boolean {
    if (!this.hasRoom(node, needs)) return false;
    const { pathSteps: steps, levelResources } = this.index;
    const available = this.available;
    for (let at = node; at >= 0; at = steps[at * STEP]!) {
      const base = steps[at * STEP + 1]!;
      if (base < 0) continue;
      const list = levelResources[steps[at * STEP + 2]!]!;
      for (let k = 0; k < list.length; k++) available[base + k]! -= needs[list[k]!]!;
    }
    return true;
  }

  /**
   * Whether `needs` fit on the path of every node at once, into `out` (1 or
   * 0 by node position): one sweep in list order, where parents come before
   * their children, instead of a walk up from each node. Memory is read in
   * order, and jobs with the same needs share the sweep. Valid until the
   * next tryTake.
   */
  pathRoom(needs: Int32Array, out: Uint8Array): void {
    const { pathSteps: steps, levelResources } = this.index;
    const available = this.available;
    for (let i = 0; i < out.length; i++) {
      const parent = steps[i * STEP]!;
      let room = parent < 0 ? 1 : out[parent]!;
      const base = steps[i * STEP + 1]!;
      if (room === 1 && base >= 0) {
        const list = levelResources[steps[i * STEP + 2]!]!;
        for (let k = 0; k < list.length; k++)
          if (needs[list[k]!]! > available[base + k]!) {
            room = 0;
            break;
          }
      }
      out[i] = room;
    }
  }

  /** How many tasks needing `needs` the node's own budgets hold now (Infinity when it has none they use). */
  startsThatFit(node: number, needs: Int32Array): number {
    const { pathSteps: steps, levelResources } = this.index;
    const base = steps[node * STEP + 1]!;
    let starts = Infinity;
    if (base < 0) return starts;
    const list = levelResources[steps[node * STEP + 2]!]!;
    for (let k = 0; k < list.length; k++) {
      const need = needs[list[k]!]!;
      if (need > 0) starts = Math.min(starts, Math.max(0, Math.floor(this.available[base + k]! / need)));
    }
    return starts;
  }

  /** Whether `needs` fit on the path from `node` up, right now. */
  hasRoom(node: number, needs: Int32Array): boolean {
    // The hottest loop of a pass at millions of nodes: each step of the walk reads one packed
    // record (parent, budget slots, level), not four arrays, in random memory order.
    const { pathSteps: steps, levelResources } = this.index;
    const available = this.available;
    for (let at = node; at >= 0; at = steps[at * STEP]!) {
      const base = steps[at * STEP + 1]!;
      if (base < 0) continue;
      const list = levelResources[steps[at * STEP + 2]!]!;
      for (let k = 0; k < list.length; k++) if (needs[list[k]!]! > available[base + k]!) return false;
    }
    return true;
  }

  /** The first resource on the path from `node` up that lacks room for `needs`, or undefined. */
  shortage(
    node: number,
    needs: Int32Array,
  ): { resource: string; node: string; needed: number; available: number } | undefined {
    const { nodes, pathSteps: steps, levelResources, resources } = this.index;
    for (let at = node; at >= 0; at = steps[at * STEP]!) {
      const base = steps[at * STEP + 1]!;
      if (base < 0) continue;
      const list = levelResources[steps[at * STEP + 2]!]!;
      for (let k = 0; k < list.length; k++) {
        const needed = needs[list[k]!]!;
        const available = this.available[base + k]!;
        if (needed > available)
          return { resource: resources[list[k]!]!.name, node: nodes.name(at), needed, available };
      }
    }
    return undefined;
  }

  /** The charges a task started on `node` holds: every path node whose level has resources. */
  chargesFor(node: number, needs: Int32Array): Record<string, Record<string, number>> {
    const { nodes, pathSteps: steps, levelResources, resources } = this.index;
    const path: number[] = [];
    for (let at = node; at >= 0; at = steps[at * STEP]!) if (steps[at * STEP + 1]! >= 0) path.push(at);
    const out: Record<string, Record<string, number>> = {};
    for (const at of path.reverse()) {
      const amounts: Record<string, number> = {};
      for (const r of levelResources[nodes.levels[at]!]!) amounts[resources[r]!.name] = needs[r]!;
      out[nodes.name(at)] = amounts;
    }
    return out;
  }
}

interface PlacedCharges {
  readonly charge: LedgerCharge;
  readonly problems: readonly string[];
}

/** Where a running task's recorded charges land in the availability array of `index`. */
function placeCharges(
  task: RunningTask,
  index: NodeIndex,
  resourceIndex: ReadonlyMap<string, number>,
): PlacedCharges {
  const slots: number[] = [];
  const amounts: number[] = [];
  const problems: string[] = [];
  for (const [nodeName, resources] of Object.entries(task.charges)) {
    const nameId = index.names.lookup(nodeName);
    for (const [resourceName, amount] of Object.entries(resources)) {
      const r = resourceIndex.get(resourceName);
      if (r === undefined) {
        problems.push(
          `Resource ${resourceName} of running task ${task.job} on ${task.node} is no longer configured`,
        );
        continue;
      }
      const resource = index.resources[r]!;
      // Worker resources are the remote runner's to account (WorkerPlacement), by worker name.
      if (resource.levelId === index.nodes.levelCount - 1) continue;
      const budget = index.budgetFor(resource.levelId, nameId);
      if (budget < 0) {
        problems.push(
          `Running task ${task.job} on ${task.node} requires resources on unknown node ${nodeName}`,
        );
        break;
      }
      slots.push(index.budgetBase[budget]! + index.resourceSlot[r]!);
      amounts.push(amount);
    }
  }
  return { charge: { slots: Int32Array.from(slots), amounts: Int32Array.from(amounts) }, problems };
}

/**
 * Where each running task's charges land, kept per task for as long as the
 * node index is the same (a task's charges never change while it runs; a
 * new index, made for new nodes or resources, places them again).
 */
export class ChargeSlots {
  private readonly placed = new WeakMap<RunningTask, PlacedCharges & { readonly index: NodeIndex }>();

  of(task: RunningTask, index: NodeIndex, resourceIndex: ReadonlyMap<string, number>): PlacedCharges {
    const known = this.placed.get(task);
    if (known?.index === index) return known;
    const placed = { ...placeCharges(task, index, resourceIndex), index };
    this.placed.set(task, placed);
    return placed;
  }
}
