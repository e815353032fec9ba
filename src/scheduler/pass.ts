/**
 * One scheduling pass: given the config, the nodes, the
 * statuses and the clock, decide which tasks to start (with the resources
 * each will hold) and which running tasks to kill, and report problems.
 *
 * Pure: no I/O, no clock, randomness only from the given source. The caller
 * (the daemon) starts and kills through the runner and records statuses. A
 * `Scheduler` instance carries what must survive between passes: kill
 * deadlines, and caches derived from the node set and the config.
 */
import type { Config } from '../config/config.js';
import { jobCanRun, type Job } from '../config/job.js';
import type { NodeSet } from '../nodes/nodeSet.js';
import type { BackoffAtStart } from '../statuses/backoff.js';
import type { ResourceCharges } from '../statuses/runningTask.js';
import { StatusBits } from '../statuses/taskStatus.js';
import type { TaskStatuses } from '../statuses/taskStatuses.js';
import type { JobStatusTable } from '../statuses/jobStatusTable.js';
import {
  dependenciesDone,
  Eligibility,
  EligibilityCache,
  prerequisiteJobsDone,
  type EligibilityMask,
} from './eligibility.js';
import {
  dueKills,
  findOrphans,
  findOvercommitVictims,
  type Deadlines,
  type KillDecision,
} from './killDecisions.js';
import { NodeIndex } from './nodeIndex.js';
import { runPolicy, type JobCandidates } from './policies.js';
import { jobOrderSeed, passOrderSeed, RandomOrder, shuffleInPlace, type RandomSource } from './random.js';
import { ChargeSlots, ResourceLedger, type LedgerCharge } from './resourceLedger.js';
import type { PassSnapshot } from './notRunningReasons.js';
import type { Settings } from '../config/settings.js';

/** The node every path ends at (NodeSet position 0). */
const INSTANCE_NODE = 0;
/** The candidates of a job that cannot start anything this pass. */
const NO_NODES = new Int32Array(0);
const BLOCKING = StatusBits.RUNNING | StatusBits.DONE | StatusBits.FAILED;

export interface PassInput {
  readonly config: Config;
  readonly nodes: NodeSet;
  readonly statuses: TaskStatuses;
  /** Epoch seconds. */
  readonly now: number;
  readonly random: RandomSource;
  /** False for runners that cannot kill (dry run): kill deadlines are forgotten. */
  readonly canKill?: boolean;
}

export interface TaskStart {
  readonly job: Job;
  readonly node: string;
  /** Position of the node in the node set. */
  readonly nodeIndex: number;
  readonly pathToNode: readonly string[];
  /** Also the task's `resources_by_node`. */
  readonly charges: ResourceCharges;
  readonly backoff: BackoffAtStart;
}

export interface PassResult {
  readonly starts: readonly TaskStart[];
  readonly kills: readonly KillDecision[];
  /** Error registry entries by key; a key absent here has no problems this pass. */
  readonly errors: Readonly<Record<string, readonly string[]>>;
  /** Some task is running or was just started (choose `working_wait`). */
  readonly busy: boolean;
  /** Orphans tracked with a future deadline, by invocation id. */
  readonly orphanDeadlines: Deadlines;
  readonly overcommitDeadlines: Deadlines;
}

/**
 * Up to this many starts possible for a job at the instance node, a random
 * order is drawn a position at a time: a slot freed at millions of nodes
 * then costs a few draws, not a scan and a shuffle of every node.
 */
const FEW_STARTS = 64;
/** Entries drawn one at a time before the rest of the order is worked out at once from a scan. */
const DEFAULT_DRAWS_BEFORE_SCAN = 4096;
/** Failed tries of drawn candidates (their paths are full) before the rest comes from a scan. */
const FAILED_TRIES_BEFORE_SCAN = 32;

/** A job's candidates in one pass, in the order to try them. */
interface CandidateList extends JobCandidates {
  readonly job: Job;
  /** Amount of each configured resource (by index) one task needs. */
  readonly needs: Int32Array;
  readonly mask: EligibilityMask;
  readonly table: JobStatusTable | undefined;
  /** Name ids started this pass (made at the first start: most jobs of a busy pass start nothing). */
  started: Set<number> | undefined;
  count: number;
  exhausted: boolean;
  /** The job's random order, drawn an entry at a time until `nodes` is built from a scan. */
  drawing: RandomOrder | undefined;
  /** Tries of drawn candidates that failed. */
  failedTries: number;
  /** Node positions to try (from a scan), the parent of each beside it, and the next one. */
  nodes: Int32Array;
  parents: Int32Array;
  cursor: number;
}

export interface SchedulerOptions {
  /** Positions of a random order drawn one at a time before the rest comes from a scan (tests make it small). */
  readonly drawsBeforeScan?: number;
}

export const ErrorKeys = { mainLoop: 'Main loop', resources: 'Running tasks resources' } as const;

export class Scheduler {
  private index: NodeIndex | undefined;
  /** An index built ahead for the next node set (see prepare). */
  private prepared: NodeIndex | undefined;
  /** Eligibility masks per (job, node set); the monitor and the API read them too. */
  readonly eligibility = new EligibilityCache();
  /** What the last pass saw, for working out why a task did not start (notRunningReasons.ts). */
  lastSnapshot: PassSnapshot | undefined;
  private orphanDeadlines: Deadlines = new Map();
  /**
   * Jobs whose candidate list came out empty (every task done, failed,
   * running or in backoff; with no dependency on other jobs), and what it
   * was built from: most jobs of a large task queue, skipped at the cost of
   * a lookup until one of their statuses changes.
   */
  private readonly noCandidate = new WeakMap<
    Job,
    { table: JobStatusTable | undefined; revision: number; index: NodeIndex; until: number }
  >();
  private runnable: { jobs: ReadonlyMap<string, Job>; list: readonly Job[] } | undefined;
  private readonly chargeSlots = new ChargeSlots();
  private roomScratch = new Uint8Array(0);
  private readonly needsCache = new WeakMap<Job, { resources: Settings['resources']; needs: Int32Array }>();
  private overcommitDeadlines: Deadlines = new Map();
  private orderScratch = new Int32Array(0);
  private readonly drawsBeforeScan: number;

  constructor(options: SchedulerOptions = {}) {
    this.drawsBeforeScan = options.drawsBeforeScan ?? DEFAULT_DRAWS_BEFORE_SCAN;
  }

  /** The index for this node set and resource config, rebuilt only when either changes. */
  nodeIndex(nodes: NodeSet, config: Config, statuses: TaskStatuses): NodeIndex {
    const fits = (index: NodeIndex | undefined): index is NodeIndex =>
      index !== undefined &&
      index.nodes === nodes &&
      index.resources === config.settings.resources &&
      index.names === statuses.names;
    if (!fits(this.index)) {
      this.index = fits(this.prepared)
        ? this.prepared
        : NodeIndex.of(nodes, config.settings.resources, statuses.names);
      this.prepared = undefined;
    }
    return this.index;
  }

  /**
   * Makes ready, off the passes, what the first pass over a new node set
   * would otherwise build in one block (a second and more at millions of
   * nodes): its index, a slice at a time, and each runnable job's
   * eligibility mask, one per turn. `pause` gives the event loop its turns
   * (EventLoopSlicer). Passes keep using the current node set meanwhile.
   */
  async prepare(
    nodes: NodeSet,
    config: Config,
    statuses: TaskStatuses,
    pause: () => Promise<void> | undefined,
  ): Promise<void> {
    const index = await NodeIndex.sliced(nodes, config.settings.resources, statuses.names, pause);
    this.prepared = index;
    const workerLevel = config.settings.levels.length - 1;
    for (const job of this.runnableJobs(config.jobs)) {
      if (job.levelForTasks === workerLevel) continue;
      await this.eligibility.prepare(job, config.settings, index, pause);
    }
  }

  /** A job's amount of every resource, in the settings' order; cached while the job and resources stay the same. */
  private needsOf(job: Job, resources: Settings['resources']): Int32Array {
    const cached = this.needsCache.get(job);
    if (cached?.resources === resources) return cached.needs;
    const needs = Int32Array.from(
      resources,
      (resource) => job.resources[resource.name] ?? resource.defaultAmount,
    );
    this.needsCache.set(job, { resources, needs });
    return needs;
  }

  /** The config's jobs that may run, in config order; computed once per job map. */
  private runnableJobs(jobs: ReadonlyMap<string, Job>): readonly Job[] {
    if (this.runnable?.jobs !== jobs) this.runnable = { jobs, list: [...jobs.values()].filter(jobCanRun) };
    return this.runnable.list;
  }

  /** Whether the job's last candidate list was empty and nothing it was built from changed since. */
  private knownToHaveNoCandidate(job: Job, statuses: TaskStatuses, index: NodeIndex, now: number): boolean {
    const known = this.noCandidate.get(job);
    if (known === undefined) return false;
    const table = statuses.table(job.name);
    return (
      known.table === table &&
      known.revision === (table?.revision ?? -1) &&
      now < known.until &&
      known.index === index
    );
  }

  run(input: PassInput): PassResult {
    const { config, statuses, now } = input;
    const settings = config.settings;
    const running = [...statuses.runningTasks()];
    if (!settings.enabled) {
      const index = this.nodeIndex(input.nodes, config, statuses);
      this.lastSnapshot = { config, index, ledger: new ResourceLedger(index), now };
      this.orphanDeadlines = new Map();
      this.overcommitDeadlines = new Map();
      return this.result(
        [],
        [],
        { [ErrorKeys.mainLoop]: ['Not running because enabled is false'] },
        running.length > 0,
      );
    }
    const index = this.nodeIndex(input.nodes, config, statuses);
    const ledger = new ResourceLedger(index);
    const problems: string[] = [];
    const charges: LedgerCharge[] = running.map((task) =>
      ledger.chargeRunning(task, problems, this.chargeSlots),
    );
    for (const slot of ledger.negativeSlots()) {
      const { resource, node, amount } = ledger.describeSlot(slot);
      problems.push(`Resource ${resource} is ${amount} on node ${node}`);
    }

    const kills: KillDecision[] = [];
    if (input.canKill === false) {
      this.orphanDeadlines = new Map();
      this.overcommitDeadlines = new Map();
    } else {
      const orphans = dueKills(findOrphans(running, config, index), this.orphanDeadlines, now, 'orphan');
      const killedAsOrphans = new Set(orphans.kills.map((kill) => kill.invocationId));
      const victims = dueKills(
        findOvercommitVictims(running, charges, ledger, config).filter(
          (v) => !killedAsOrphans.has(v.task.invocationId),
        ),
        this.overcommitDeadlines,
        now,
        'overcommit',
      );
      this.orphanDeadlines = orphans.deadlines;
      this.overcommitDeadlines = victims.deadlines;
      kills.push(...orphans.kills, ...victims.kills);
    }

    const starts = this.startTasks(input, index, ledger);
    this.lastSnapshot = { config, index, ledger, now };
    const errors: Record<string, string[]> = {};
    if (problems.length > 0) errors[ErrorKeys.resources] = problems;
    return this.result(starts, kills, errors, running.length > 0 || starts.length > 0);
  }

  private startTasks(input: PassInput, index: NodeIndex, ledger: ResourceLedger): TaskStart[] {
    const { config, statuses, random } = input;
    const settings = config.settings;
    const workerLevel = settings.levels.length - 1;
    const jobs = shuffleInPlace(this.runnableJobs(config.jobs).slice(), random);
    // Each job's random node order comes from this seed and its name (jobOrderSeed): drawn once
    // per pass, whatever the jobs find, so no job's order depends on how much of another's was read.
    const passSeed = passOrderSeed(random);

    // Only jobs with a node to try take part in the policy (none of the policies gives a job
    // without one anything, nor draws a random number for it).
    const entries: CandidateList[] = [];
    // Path room by needs (ResourceLedger.pathRoom), shared by the jobs of this pass that need the same.
    const pathRooms = new Map<string, Uint8Array>();
    for (const job of jobs) {
      // Most jobs of a large task queue have nothing to try this pass: nothing to prepare.
      if (job.levelForTasks === workerLevel || this.knownToHaveNoCandidate(job, statuses, index, input.now))
        continue;
      const needs = this.needsOf(job, settings.resources);
      // Every path ends at the instance node, and room only shrinks during a pass: a job that does
      // not fit there fits nowhere (a saturated task queue of thousands of jobs costs this check each).
      if (!ledger.hasRoom(INSTANCE_NODE, needs)) continue;
      if (!prerequisiteJobsDone(job, config.jobs, jobCanRun, settings, index, statuses, this.eligibility))
        continue;
      const atLevel = index.nodes.atLevel(job.levelForTasks);
      const entry: CandidateList = {
        job,
        needs,
        mask: this.eligibility.get(job, settings, index),
        table: statuses.table(job.name),
        started: undefined,
        priority: job.priority,
        count: 0,
        exhausted: false,
        drawing:
          settings.nodeOrder === 'random'
            ? new RandomOrder(atLevel, jobOrderSeed(passSeed, job.name))
            : undefined,
        failedTries: 0,
        nodes: NO_NODES,
        parents: NO_NODES,
        cursor: 0,
      };
      // Few starts possible (one freed slot at millions of nodes): the order is drawn as it is
      // read. long_tail ranks jobs by their number of candidates, which only a scan tells.
      const drawn =
        entry.drawing !== undefined &&
        settings.scheduler !== 'long_tail' &&
        ledger.startsThatFit(INSTANCE_NODE, needs) <= FEW_STARTS;
      if (!drawn) this.fillCandidates(entry, input, index, ledger, pathRooms);
      if (!entry.exhausted) entries.push(entry);
    }

    const starts: TaskStart[] = [];
    runPolicy(
      settings.scheduler,
      entries,
      (candidates) => {
        const entry = candidates as CandidateList;
        const position = this.nextCandidate(entry, input, index, ledger, pathRooms);
        if (position < 0) return false;
        // The path above the node first: at millions of candidates tried in random order, most
        // fail for a full ancestor (few, so cached), and then the node's own records, a cache
        // miss each, are never read. The outcome is the same in either order.
        const node = entry.nodes === NO_NODES ? position : entry.nodes[position]!;
        const parent = entry.nodes === NO_NODES ? index.nodes.parents[node]! : entry.parents[position]!;
        const nameId = parent < 0 || ledger.hasRoom(parent, entry.needs) ? index.nameIds[node]! : -1;
        // Replicas at the task level share a name: one task per name.
        if (nameId < 0 || entry.started?.has(nameId) || !ledger.tryTake(node, entry.needs)) {
          // Every path ends at the instance node and room only shrinks: once it is full for this
          // job, no candidate left can start, and none is tried.
          if (!ledger.hasRoom(INSTANCE_NODE, entry.needs)) entry.exhausted = true;
          entry.failedTries++;
          return false;
        }
        (entry.started ??= new Set()).add(nameId);
        const name = index.nodes.name(node);
        starts.push({
          job: entry.job,
          node: name,
          nodeIndex: node,
          pathToNode: index.nodes.pathTo(node),
          charges: ledger.chargesFor(node, entry.needs),
          backoff: statuses.backoffFor(entry.job.name, name, entry.job.backoff),
        });
        return true;
      },
      random,
    );
    return starts;
  }

  /**
   * The job's next candidate: a position in `entry.nodes` once its list is
   * built, else (its order still drawn as read) a node position; -1 and the
   * job exhausted when none is left. Drawing stops after `drawsBeforeScan`
   * positions (candidates are rare, or none fits): the rest of the same
   * order then comes from a scan, as for a job that starts many.
   */
  private nextCandidate(
    entry: CandidateList,
    input: PassInput,
    index: NodeIndex,
    ledger: ResourceLedger,
    pathRooms: Map<string, Uint8Array>,
  ): number {
    const drawing = entry.drawing;
    if (drawing !== undefined) {
      const atLevel = index.nodes.atLevel(entry.job.levelForTasks);
      while (drawing.read < this.drawsBeforeScan && entry.failedTries < FAILED_TRIES_BEFORE_SCAN) {
        const k = drawing.next();
        if (k < 0) {
          entry.exhausted = true;
          return -1;
        }
        if (this.isCandidate(entry, atLevel[k]!, k, index, input)) return atLevel[k]!;
      }
      this.fillCandidates(entry, input, index, ledger, pathRooms);
      if (entry.exhausted) return -1;
    }
    if (entry.cursor >= entry.nodes.length) {
      entry.exhausted = true;
      return -1;
    }
    const position = entry.cursor++;
    if (entry.cursor >= entry.nodes.length) entry.exhausted = true;
    return position;
  }

  /** Whether the job may start on `node` (level position `k`) now, judged as in fillCandidates. */
  private isCandidate(
    entry: CandidateList,
    node: number,
    k: number,
    index: NodeIndex,
    input: PassInput,
  ): boolean {
    if (entry.mask[k] !== Eligibility.ELIGIBLE) return false;
    const { table, job } = entry;
    const nameId = index.nameIds[node]!;
    if (table && nameId < table.bits.length) {
      const bits = table.bits[nameId]!;
      if (bits & BLOCKING) return false;
      if (bits & StatusBits.USES_BACKOFF && table.time[nameId]! + table.backoffSec[nameId]! > input.now)
        return false;
    }
    return job.dependsOn.length === 0 || dependenciesDone(job, nameId, input.statuses);
  }

  /**
   * Builds the job's list of nodes to try from one scan of its level, in
   * list order (sequential memory at millions of nodes), then ordered: by
   * the job's random order (its entries not yet read), by name, or as
   * listed. Nodes whose path already lacks room are left out: room only
   * shrinks during a pass, so their tries would fail anyway. `count` keeps
   * the number before that (what long_tail ranks by).
   */
  private fillCandidates(
    entry: CandidateList,
    input: PassInput,
    index: NodeIndex,
    ledger: ResourceLedger,
    pathRooms: Map<string, Uint8Array>,
  ): void {
    const { job, mask, table } = entry;
    const { statuses, now } = input;
    const level = job.levelForTasks;
    const atLevel = index.nodes.atLevel(level);
    // By node: 0 not a candidate, 1 a candidate without room, 2 one with room. Scratch space
    // shared by every job of the pass (most jobs of a large config have no candidate).
    if (this.roomScratch.length < index.nodes.size) this.roomScratch = new Uint8Array(index.nodes.size);
    const state = this.roomScratch;
    // A level that holds most nodes: one sweep over all of them costs less than a walk up from each.
    const pathRoom =
      atLevel.length * 2 >= index.nodes.size ? roomOfEveryPath(entry.needs, ledger, pathRooms) : undefined;
    let count = 0;
    let roomy = 0;
    let firstBackoffEnd = Infinity;
    // The same test as isCandidate, written out: the hottest loop of a pass at millions of nodes.
    for (let k = 0; k < atLevel.length; k++) {
      const node = atLevel[k]!;
      state[node] = 0;
      if (mask[k] !== Eligibility.ELIGIBLE) continue;
      const nameId = index.nameIds[node]!;
      if (table && nameId < table.bits.length) {
        const bits = table.bits[nameId]!;
        if (bits & BLOCKING) continue;
        if (bits & StatusBits.USES_BACKOFF) {
          const backoffEnd = table.time[nameId]! + table.backoffSec[nameId]!;
          if (backoffEnd > now) {
            if (backoffEnd < firstBackoffEnd) firstBackoffEnd = backoffEnd;
            continue;
          }
        }
      }
      if (job.dependsOn.length > 0 && !dependenciesDone(job, nameId, statuses)) continue;
      count++;
      const room = pathRoom ? pathRoom[node] === 1 : ledger.hasRoom(node, entry.needs);
      state[node] = room ? 2 : 1;
      if (room) roomy++;
    }
    entry.count = count;
    const drawing = entry.drawing;
    entry.drawing = undefined;
    if (count === 0 && job.dependsOn.length === 0 && job.runOnlyAfterAllNodesAreDoneFor.length === 0) {
      // Until its statuses, its eligibility or the clock (a backoff's end) change, it has none either.
      this.noCandidate.set(job, { table, revision: table?.revision ?? -1, index, until: firstBackoffEnd });
    }
    // None fits now: their order cannot matter, and none is tried.
    if (roomy === 0) {
      entry.exhausted = true;
      return;
    }
    // The nodes and their parents in one allocation (see JobStatusTable.ensureCapacity).
    const lists = new Int32Array(roomy * 2);
    let nodes = lists.subarray(0, roomy);
    let n = 0;
    if (drawing !== undefined) {
      // The rest of the job's random order: the entries already read were tried.
      if (this.orderScratch.length < atLevel.length) this.orderScratch = new Int32Array(atLevel.length);
      const order = drawing.drawAll(this.orderScratch);
      for (let i = drawing.read; i < order.length && n < roomy; i++)
        if (state[order[i]!] === 2) nodes[n++] = order[i]!;
      nodes = nodes.subarray(0, n);
    } else {
      for (let k = 0; k < atLevel.length; k++) if (state[atLevel[k]!] === 2) nodes[n++] = atLevel[k]!;
      if (input.config.settings.nodeOrder === 'lexicographic') {
        const rank = index.lexicographicRank(level);
        nodes.sort((a, b) => rank[a]! - rank[b]!);
      }
    }
    const parents = lists.subarray(roomy, roomy + n);
    const nodeParents = index.nodes.parents;
    for (let i = 0; i < n; i++) parents[i] = nodeParents[nodes[i]!]!;
    entry.nodes = nodes;
    entry.parents = parents;
    entry.cursor = 0;
    entry.exhausted = n === 0;
  }

  private result(
    starts: TaskStart[],
    kills: KillDecision[],
    errors: Record<string, string[]>,
    busy: boolean,
  ): PassResult {
    return {
      starts,
      kills,
      errors,
      busy,
      orphanDeadlines: this.orphanDeadlines,
      overcommitDeadlines: this.overcommitDeadlines,
    };
  }
}

/** The ledger's path room for `needs` (ResourceLedger.pathRoom), swept once per distinct needs per pass. */
function roomOfEveryPath(
  needs: Int32Array,
  ledger: ResourceLedger,
  swept: Map<string, Uint8Array>,
): Uint8Array {
  const key = needs.join(',');
  let room = swept.get(key);
  if (!room) {
    room = new Uint8Array(ledger.index.nodes.size);
    ledger.pathRoom(needs, room);
    swept.set(key, room);
  }
  return room;
}
