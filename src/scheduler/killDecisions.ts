/**
 * Which running tasks must die, and when.
 *
 * Orphans: the task's job was deleted, disabled or became invalid, or no
 * enabled node with the task's node name is left. Only an ancestor being
 * disabled, a filter change, or shrunk resources do not make an orphan.
 *
 * Over-commit victims: when the config shrank so that some budget is
 * negative, the fewest, most recently started tasks whose release brings
 * every budget back to >= 0 (greedy, newest first, skipping tasks that do
 * not help or whose job never kills for this reason).
 *
 * Each kind keeps a deadline per invocation, rebuilt every pass from the
 * current set only: a task that stops qualifying loses its deadline (a
 * transient deletion shorter than the delay kills nothing). A task whose
 * deadline passed is killed and not re-tracked, so if it is still alive next
 * pass it gets a fresh deadline.
 */
import type { Config } from '../config/config.js';
import { jobCanRun } from '../config/job.js';
import type { KillDelaySec } from '../config/killDelay.js';
import type { KillRequest } from '../config/killRequest.js';
import { secondsToMs } from '../config/values.js';
import type { RunningTask } from '../statuses/runningTask.js';
import type { NodeIndex } from './nodeIndex.js';
import type { LedgerCharge, ResourceLedger } from './resourceLedger.js';

export type KillReason = 'orphan' | 'overcommit';

export interface KillDecision {
  readonly job: string;
  readonly node: string;
  readonly invocationId: string;
  readonly reason: KillReason;
  readonly request: KillRequest;
  readonly detail: string;
}

/** Deadlines (epoch seconds) by invocation id. */
export type Deadlines = ReadonlyMap<string, number>;

export interface Candidate {
  readonly task: RunningTask;
  readonly delaySec: KillDelaySec;
  readonly request: KillRequest;
  readonly detail: string;
}

/** Why a running task is an orphan, or undefined if it is not one. */
export function orphanReason(task: RunningTask, config: Config, index: NodeIndex): string | undefined {
  const job = config.jobs.get(task.job);
  if (!job) return 'its job was deleted';
  if (!job.enabled) return 'its job is disabled';
  if (!jobCanRun(job)) return 'its job is invalid';
  if (!index.isEnabledName(index.names.lookup(task.node))) return 'its node was deleted or disabled';
  return undefined;
}

/** The job's kill settings, or the settings' for a deleted job. */
export function killPolicyFor(
  task: RunningTask,
  config: Config,
  reason: KillReason,
): { delaySec: KillDelaySec; request: KillRequest } {
  const job = config.jobs.get(task.job);
  const source = job ?? config.settings;
  return {
    delaySec:
      reason === 'orphan' ? source.killOrphanTasksAfterSec : source.killTasksExceedingResourcesAfterSec,
    request: source.killSubprocess,
  };
}

export function findOrphans(tasks: readonly RunningTask[], config: Config, index: NodeIndex): Candidate[] {
  const out: Candidate[] = [];
  for (const task of tasks) {
    const reason = orphanReason(task, config, index);
    if (reason === undefined) continue;
    const policy = killPolicyFor(task, config, 'orphan');
    out.push({ task, ...policy, detail: `orphan: ${reason}` });
  }
  return out;
}

/** Chooses over-commit victims without changing the ledger. */
export function findOvercommitVictims(
  tasks: readonly RunningTask[],
  charges: readonly LedgerCharge[],
  ledger: ResourceLedger,
  config: Config,
): Candidate[] {
  const negative = ledger.negativeSlots();
  if (negative.length === 0) return [];
  const available = ledger.available.slice();
  let deficit = new Set(negative);
  const order = tasks
    .map((task, i) => ({ task, charge: charges[i]! }))
    .sort(
      (a, b) => b.task.startTime - a.task.startTime || (a.task.invocationId < b.task.invocationId ? 1 : -1),
    );
  const over = describeSlots(ledger, negative);
  const out: Candidate[] = [];
  for (const { task, charge } of order) {
    if (deficit.size === 0) break;
    let helps = false;
    for (let i = 0; i < charge.slots.length; i++)
      if (charge.amounts[i]! > 0 && deficit.has(charge.slots[i]!)) helps = true;
    if (!helps) continue;
    const policy = killPolicyFor(task, config, 'overcommit');
    if (policy.delaySec === null) continue;
    for (let i = 0; i < charge.slots.length; i++) available[charge.slots[i]!]! += charge.amounts[i]!;
    deficit = new Set([...deficit].filter((slot) => available[slot]! < 0));
    out.push({ task, ...policy, detail: `over-commit: ${over}` });
  }
  return out;
}

function describeSlots(ledger: ResourceLedger, slots: readonly number[]): string {
  return slots
    .slice(0, 3)
    .map((slot) => {
      const { resource, node, amount } = ledger.describeSlot(slot);
      return `${resource} is ${amount} on ${node}`;
    })
    .join(', ');
}

/** Applies deadlines: returns the kills due now and the deadlines to keep. */
export function dueKills(
  candidates: readonly Candidate[],
  previous: Deadlines,
  now: number,
  reason: KillReason,
): { kills: KillDecision[]; deadlines: Map<string, number> } {
  const kills: KillDecision[] = [];
  const deadlines = new Map<string, number>();
  for (const candidate of candidates) {
    if (candidate.delaySec === null) continue;
    const id = candidate.task.invocationId;
    const deadline = previous.get(id) ?? now + secondsToMs(candidate.delaySec) / 1000;
    if (deadline > now) {
      deadlines.set(id, deadline);
      continue;
    }
    kills.push({
      job: candidate.task.job,
      node: candidate.task.node,
      invocationId: id,
      reason,
      request: candidate.request,
      detail: candidate.detail,
    });
  }
  return { kills, deadlines };
}
