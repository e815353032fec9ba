/**
 * A straightforward implementation of the same scheduling pass, written the
 * obvious way (objects, string-keyed maps, everything recomputed each pass).
 * The benchmark measures the real pass against it, and a test checks that
 * both start the same tasks.
 */
import type { Config } from '../src/config/config.js';
import { jobCanRun, type Job } from '../src/config/job.js';
import type { NodeFilter } from '../src/config/filters.js';
import type { NodeSet } from '../src/nodes/nodeSet.js';
import { passesFraction } from '../src/scheduler/fractionHash.js';
import {
  jobOrderSeed,
  passOrderSeed,
  RandomOrder,
  shuffleInPlace,
  type RandomSource,
} from '../src/scheduler/random.js';
import { StatusBits as B } from '../src/statuses/taskStatus.js';
import type { TaskStatuses } from '../src/statuses/taskStatuses.js';

interface RefNode {
  name: string;
  level: number;
  parent: RefNode | undefined;
  enabled: boolean;
  tags: readonly string[];
}

export function referencePass(
  config: Config,
  nodeSet: NodeSet,
  statuses: TaskStatuses,
  now: number,
  random: RandomSource,
): string[] {
  const settings = config.settings;
  if (!settings.enabled) return [];
  const nodes: RefNode[] = [];
  for (let i = 0; i < nodeSet.size; i++) {
    const spec = nodeSet.node(i);
    nodes.push({
      name: spec.name,
      level: spec.level,
      parent: spec.parent >= 0 ? nodes[spec.parent] : undefined,
      enabled: spec.enabled,
      tags: spec.tags ?? [],
    });
  }
  const available = new Map<string, number>();
  const key = (node: RefNode, resource: string) => `${node.level}/${node.name}/${resource}`;
  for (const node of nodes) {
    for (const resource of settings.resources)
      if (resource.levelId === node.level) available.set(key(node, resource.name), resource.limit);
  }
  for (const task of statuses.runningTasks()) {
    for (const [nodeName, amounts] of Object.entries(task.charges)) {
      for (const [resource, amount] of Object.entries(amounts)) {
        const level = settings.resources.find((r) => r.name === resource)!.levelId;
        const k = `${level}/${nodeName}/${resource}`;
        if (available.has(k)) available.set(k, available.get(k)! - amount);
      }
    }
  }
  const path = (node: RefNode): RefNode[] => {
    const out: RefNode[] = [];
    for (let at: RefNode | undefined = node; at; at = at.parent) out.push(at);
    return out;
  };
  const passes = (filter: NodeFilter, node: RefNode, job: string): boolean =>
    (filter.whitelist.length === 0 || filter.whitelist.includes(node.name)) &&
    (filter.whitelistRegex === '' || new RegExp(filter.whitelistRegex).test(node.name)) &&
    (filter.blacklist.length === 0 || !filter.blacklist.includes(node.name)) &&
    (filter.blacklistRegex === '' || !new RegExp(filter.blacklistRegex).test(node.name)) &&
    (filter.tagWhitelist.length === 0 || node.tags.some((t) => filter.tagWhitelist.includes(t))) &&
    (filter.fractionOfNodes >= 1 || passesFraction(node.name, job, filter.fractionOfNodes));
  const eligibleStatus = (job: string, name: string): boolean => {
    const status = statuses.get(job, name);
    if (!status) return true;
    if (status.bits & (B.RUNNING | B.DONE | B.FAILED)) return false;
    return !(status.bits & B.USES_BACKOFF && status.time + status.backoffSec > now);
  };

  /** What a task of `job` on `node` would take, slot by slot; undefined if some slot lacks room now. */
  const needsOnPath = (job: Job, node: RefNode): [string, number][] | undefined => {
    const needs: [string, number][] = [];
    for (const m of path(node)) {
      for (const resource of settings.resources) {
        if (resource.levelId !== m.level) continue;
        const need = job.resources[resource.name] ?? resource.defaultAmount;
        if (need > available.get(key(m, resource.name))!) return undefined;
        needs.push([key(m, resource.name), need]);
      }
    }
    return needs;
  };

  const jobs = shuffleInPlace([...config.jobs.values()].filter(jobCanRun), random);
  const passSeed = passOrderSeed(random);
  const atLevel = (level: number): RefNode[] => nodes.filter((n) => n.level === level);
  const candidates = new Map<Job, RefNode[]>();
  for (const job of jobs) {
    const list: RefNode[] = [];
    candidates.set(job, list);
    if (job.levelForTasks === settings.levels.length - 1) continue;
    // One task that does not fit in what the running tasks left at the instance node fits nowhere.
    const instance = nodes[0]!;
    const fits = settings.resources.every(
      (r) =>
        r.levelId !== instance.level ||
        (job.resources[r.name] ?? r.defaultAmount) <= available.get(key(instance, r.name))!,
    );
    if (!fits) continue;
    const prerequisitesDone = job.runOnlyAfterAllNodesAreDoneFor.every((name) => {
      const other = config.jobs.get(name);
      if (!other || !jobCanRun(other)) return false;
      return nodes
        .filter((n) => n.level === other.levelForTasks)
        .every(
          (n) =>
            !path(n).every(
              (m) =>
                m.enabled &&
                (!other.filters[settings.levels[m.level]!] ||
                  passes(other.filters[settings.levels[m.level]!]!, m, other.name)),
            ) || (statuses.get(name, n.name)?.bits ?? 0) & B.DONE,
        );
    });
    if (!prerequisitesDone) continue;
    // A random order is the job's own permutation of its level's nodes (from the pass's seed and
    // its name), read through for the candidates; otherwise list order, or by name.
    let level = atLevel(job.levelForTasks);
    if (settings.nodeOrder === 'random') {
      const positions = Int32Array.from(level, (_, k) => k);
      const order = new RandomOrder(positions, jobOrderSeed(passSeed, job.name)).drawAll();
      level = Array.from(order, (k) => level[k]!);
    }
    for (const node of level) {
      if (!eligibleStatus(job.name, node.name)) continue;
      const ok = path(node).every((m) => {
        if (!m.enabled) return false;
        const filter = job.filters[settings.levels[m.level]!];
        return !filter || passes(filter, m, job.name);
      });
      if (!ok) continue;
      if (!job.dependsOn.every((dep) => ((statuses.get(dep, node.name)?.bits ?? 0) & B.DONE) !== 0)) continue;
      list.push(node);
    }
    if (settings.nodeOrder === 'lexicographic')
      list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  const started: string[] = [];
  const startedNames = new Set<string>();
  const tryStart = (job: Job, node: RefNode): boolean => {
    if (startedNames.has(`${job.name}/${node.name}`)) return false;
    const needs = needsOnPath(job, node);
    if (!needs) return false;
    for (const [k, need] of needs) available.set(k, available.get(k)! - need);
    startedNames.add(`${job.name}/${node.name}`);
    started.push(`${job.name}:${node.name}`);
    return true;
  };
  const cursors = new Map<Job, number>(jobs.map((job) => [job, 0]));
  const remaining = (job: Job) => candidates.get(job)!.length - cursors.get(job)!;
  const startOne = (job: Job): boolean => {
    const list = candidates.get(job)!;
    while (remaining(job) > 0) {
      const node = list[cursors.get(job)!]!;
      cursors.set(job, cursors.get(job)! + 1);
      if (tryStart(job, node)) return true;
    }
    return false;
  };
  const exhaust = (job: Job) => {
    while (remaining(job) > 0) startOne(job);
  };
  if (settings.scheduler === 'roundrobin') {
    let active = jobs.filter((j) => remaining(j) > 0);
    while (active.length > 0) {
      for (const job of active) startOne(job);
      active = active.filter((j) => remaining(j) > 0);
    }
  } else if (settings.scheduler === 'ranked_priority') {
    for (const job of [...jobs].sort((a, b) => b.priority - a.priority)) exhaust(job);
  } else if (settings.scheduler === 'long_tail') {
    for (const job of [...jobs].sort((a, b) => candidates.get(a)!.length - candidates.get(b)!.length))
      exhaust(job);
  } else {
    throw new Error(`reference pass does not implement ${settings.scheduler}`);
  }
  return started;
}
