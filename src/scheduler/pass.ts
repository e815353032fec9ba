/**
 * One scheduling pass (reference §5.1-§5.7): given the config, the nodes, the
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
import { ResourceLedger, type LedgerCharge } from './resourceLedger.js';

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

export const ErrorKeys = { mainLoop: 'Main loop', resources: 'Running tasks resources' } as const;

export class Scheduler {
  private index: NodeIndex | undefined;
  private readonly eligibility = new EligibilityCache();
  private orphanDeadlines: Deadlines = new Map();
  private overcommitDeadlines: Deadlines = new Map();

  /** The index for this node set and resource config, rebuilt only when either changes. */
  nodeIndex(nodes: NodeSet, config: Config, statuses: TaskStatuses): NodeIndex {
    if (
      !this.index ||
      this.index.nodes !== nodes ||
      this.index.resources !== config.settings.resources ||
      this.index.names !== statuses.names
    ) {
      this.index = new NodeIndex(nodes, config.settings.resources, statuses.names);
    }
    return this.index;
  }

  run(input: PassInput): PassResult {
    const { config, statuses, now } = input;
    const settings = config.settings;
    const running = [...statuses.runningTasks()];
    if (!settings.enabled) {
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
    const charges: LedgerCharge[] = running.map((task) => ledger.chargeRunning(task, problems));
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
    const errors: Record<string, string[]> = {};
    if (problems.length > 0) errors[ErrorKeys.resources] = problems;
    return this.result(starts, kills, errors, running.length > 0 || starts.length > 0);
  }

  private startTasks(input: PassInput, index: NodeIndex, ledger: ResourceLedger): TaskStart[] {
    const { config, statuses, now, random } = input;
    const settings = config.settings;
    const workerLevel = settings.levels.length - 1;
    const jobs = shuffleInPlace([...config.jobs.values()].filter(jobCanRun), random);
    const orders = new Map<number, Int32Array>();
    const orderFor = (level: number): Int32Array => {
      let order = orders.get(level);
      if (!order) {
        if (settings.nodeOrder === 'lexicographic') order = index.lexicographic(level);
        else if (settings.nodeOrder === 'random')
          order = shuffleInPlace(Int32Array.from(index.nodes.atLevel(level)), random);
        else order = index.nodes.atLevel(level);
        orders.set(level, order);
      }
      return order;
    };

    const entries: (JobCandidates & { job: Job; needs: Int32Array; started: Set<number> })[] = [];
    for (const job of jobs) {
      const needs = Int32Array.from(
        settings.resources,
        (resource) => job.resources[resource.name] ?? resource.defaultAmount,
      );
      const entry = {
        job,
        needs,
        started: new Set<number>(),
        priority: job.priority,
        nodes: new Int32Array(0) as Int32Array,
        cursor: 0,
      };
      entries.push(entry);
      if (job.levelForTasks === workerLevel) continue;
      if (!prerequisiteJobsDone(job, config.jobs, jobCanRun, settings, index, statuses, this.eligibility))
        continue;
      entry.nodes = this.candidates(job, orderFor(job.levelForTasks), index, statuses, now, input);
    }

    const starts: TaskStart[] = [];
    runPolicy(
      settings.scheduler,
      entries,
      (candidates, node) => {
        const entry = candidates as (typeof entries)[number];
        const nameId = index.nameIds[node]!;
        // Replicas at the task level share a name: one task per name.
        if (entry.started.has(nameId)) return false;
        if (!ledger.tryTake(node, entry.needs)) return false;
        entry.started.add(nameId);
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

  /** Nodes the job may start on now, in the order to try them. */
  private candidates(
    job: Job,
    order: Int32Array,
    index: NodeIndex,
    statuses: TaskStatuses,
    now: number,
    input: PassInput,
  ): Int32Array {
    const mask = this.eligibility.get(job, input.config.settings, index);
    const table = statuses.table(job.name);
    const out = new Int32Array(order.length);
    let count = 0;
    const blocking = StatusBits.RUNNING | StatusBits.DONE | StatusBits.FAILED;
    for (let k = 0; k < order.length; k++) {
      const node = order[k]!;
      if (mask[index.positionInLevel[node]!] !== Eligibility.ELIGIBLE) continue;
      const nameId = index.nameIds[node]!;
      if (table && nameId < table.bits.length) {
        const bits = table.bits[nameId]!;
        if (bits & blocking) continue;
        if (bits & StatusBits.USES_BACKOFF && table.time[nameId]! + table.backoffSec[nameId]! > now) continue;
      }
      if (job.dependsOn.length > 0 && !dependenciesDone(job, nameId, statuses)) continue;
      out[count++] = node;
    }
    return out.subarray(0, count);
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
