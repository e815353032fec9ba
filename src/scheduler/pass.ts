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
import { dependenciesDone, Eligibility, EligibilityCache, prerequisiteJobsDone } from './eligibility.js';
import {
  dueKills,
  findOrphans,
  findOvercommitVictims,
  type Deadlines,
  type KillDecision,
} from './killDecisions.js';
import { NodeIndex } from './nodeIndex.js';
import { runPolicy, type JobCandidates } from './policies.js';
import { shuffleInPlace, type RandomSource } from './random.js';
import { ChargeSlots, ResourceLedger, type LedgerCharge } from './resourceLedger.js';
import type { PassSnapshot } from './notRunningReasons.js';
import type { Settings } from '../config/settings.js';

/** The node every path ends at (NodeSet position 0). */
const INSTANCE_NODE = 0;
/** The candidates of a job that cannot start anything this pass. */
const NO_NODES = new Int32Array(0);

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

interface CandidateList extends JobCandidates {
  readonly job: Job;
  /** Amount of each configured resource (by index) one task needs. */
  readonly needs: Int32Array;
  /** Name ids started this pass (made at the first start: most jobs of a busy pass start nothing). */
  started: Set<number> | undefined;
  /** The parent of each node in `nodes`, position for position. */
  parents: Int32Array;
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
  private eligibleScratch = new Int32Array(0);
  private roomScratch = new Uint8Array(0);
  private readonly needsCache = new WeakMap<Job, { resources: Settings['resources']; needs: Int32Array }>();
  private overcommitDeadlines: Deadlines = new Map();

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
      this.eligibility.get(job, config.settings, index);
      await pause();
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
      const entry: CandidateList = {
        job,
        needs,
        started: undefined,
        priority: job.priority,
        nodes: NO_NODES,
        parents: NO_NODES,
        count: 0,
        cursor: 0,
      };
      this.fillCandidates(entry, input, index, ledger, random, pathRooms);
      if (entry.nodes.length > 0) entries.push(entry);
    }

    const starts: TaskStart[] = [];
    runPolicy(
      settings.scheduler,
      entries,
      (candidates, position) => {
        const entry = candidates as CandidateList;
        // The path above the node first: at millions of candidates tried in random order, most
        // fail for a full ancestor (few, so cached), and then the node's own records, a cache
        // miss each, are never read. The outcome is the same in either order.
        const parent = entry.parents[position]!;
        const node = entry.nodes[position]!;
        const nameId = parent < 0 || ledger.hasRoom(parent, entry.needs) ? index.nameIds[node]! : -1;
        // Replicas at the task level share a name: one task per name.
        if (nameId < 0 || entry.started?.has(nameId) || !ledger.tryTake(node, entry.needs)) {
          // Every path ends at the instance node and room only shrinks: once it is full for this
          // job, no candidate left can start, and none is tried.
          if (!ledger.hasRoom(INSTANCE_NODE, entry.needs)) entry.cursor = entry.nodes.length;
          return false;
        }
        (entry.started ??= new Set()).add(nameId);
        const name = index.nodes.names[node]!;
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
   * The nodes the job may start on now, in the order to try them
   *. Built in list order, which keeps memory access
   * sequential at a million nodes; then ordered. Nodes whose path already
   * lacks room are dropped before ordering: availability only shrinks
   * during a pass, so their tries would fail anyway. `count` keeps the
   * number before that drop (what long_tail ranks by).
   */
  private fillCandidates(
    entry: CandidateList,
    input: PassInput,
    index: NodeIndex,
    ledger: ResourceLedger,
    random: RandomSource,
    pathRooms: Map<string, Uint8Array>,
  ): void {
    const { job } = entry;
    const { statuses, now } = input;
    const level = job.levelForTasks;
    const atLevel = index.nodes.atLevel(level);
    const mask = this.eligibility.get(job, input.config.settings, index);
    const table = statuses.table(job.name);
    const blocking = StatusBits.RUNNING | StatusBits.DONE | StatusBits.FAILED;
    const order = input.config.settings.nodeOrder;
    // The eligible nodes, and whether each has room now (by node): scratch space shared by
    // every job of the pass (most jobs of a large config have no candidate).
    if (this.eligibleScratch.length < atLevel.length) this.eligibleScratch = new Int32Array(atLevel.length);
    if (this.roomScratch.length < index.nodes.size) this.roomScratch = new Uint8Array(index.nodes.size);
    const eligible = this.eligibleScratch;
    const hasRoom = this.roomScratch;
    // A level that holds most nodes: one sweep over all of them costs less than a walk up from each.
    const pathRoom =
      atLevel.length * 2 >= index.nodes.size ? roomOfEveryPath(entry.needs, ledger, pathRooms) : undefined;
    let count = 0;
    let roomy = 0;
    let firstBackoffEnd = Infinity;
    for (let k = 0; k < atLevel.length; k++) {
      if (mask[k] !== Eligibility.ELIGIBLE) continue;
      const node = atLevel[k]!;
      const nameId = index.nameIds[node]!;
      if (table && nameId < table.bits.length) {
        const bits = table.bits[nameId]!;
        if (bits & blocking) continue;
        if (bits & StatusBits.USES_BACKOFF) {
          const backoffEnd = table.time[nameId]! + table.backoffSec[nameId]!;
          if (backoffEnd > now) {
            if (backoffEnd < firstBackoffEnd) firstBackoffEnd = backoffEnd;
            continue;
          }
        }
      }
      if (job.dependsOn.length > 0 && !dependenciesDone(job, nameId, statuses)) continue;
      eligible[count++] = node;
      const room = pathRoom ? pathRoom[node] === 1 : ledger.hasRoom(node, entry.needs);
      hasRoom[node] = room ? 1 : 0;
      if (room) roomy++;
    }
    entry.count = count;
    if (count === 0 && job.dependsOn.length === 0 && job.runOnlyAfterAllNodesAreDoneFor.length === 0) {
      // Until its statuses, its eligibility or the clock (a backoff's end) change, it has none either.
      this.noCandidate.set(job, { table, revision: table?.revision ?? -1, index, until: firstBackoffEnd });
    }
    // None fits now: their order cannot matter, and no random number is drawn for it (a saturated
    // pass at millions of nodes would otherwise shuffle them all, in random memory order).
    if (roomy === 0) return;
    let ordered = eligible.subarray(0, count);
    if (order === 'random') {
      // Shuffle every candidate (not only the roomy ones) so the order depends only on the seed and the candidates.
      shuffleInPlace(ordered, random);
    }
    if (roomy === count) {
      // Every candidate has room (a first pass): a copy in order, no lookup per node.
      ordered = ordered.slice();
    } else {
      const kept = new Int32Array(roomy);
      let n = 0;
      for (let i = 0; i < ordered.length; i++) if (hasRoom[ordered[i]!]) kept[n++] = ordered[i]!;
      ordered = kept;
    }
    if (order === 'lexicographic') {
      const rank = index.lexicographicRank(level);
      ordered.sort((a, b) => rank[a]! - rank[b]!);
    }
    const parents = new Int32Array(ordered.length);
    const nodeParents = index.nodes.parents;
    for (let i = 0; i < ordered.length; i++) parents[i] = nodeParents[ordered[i]!]!;
    entry.nodes = ordered;
    entry.parents = parents;
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
