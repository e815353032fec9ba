import { parseConfig, type Config } from '../../src/config/config.js';
import { fetchNodes } from '../../src/nodes/fetchNodes.js';
import type { NodeSet } from '../../src/nodes/nodeSet.js';
import { Scheduler, type PassResult } from '../../src/scheduler/pass.js';
import { seededRandom } from '../../src/scheduler/random.js';
import { parseStatusReport } from '../../src/statuses/parseStatus.js';
import type { RunningTask } from '../../src/statuses/runningTask.js';
import { TaskStatuses } from '../../src/statuses/taskStatuses.js';

/**
 * A scheduler with its inputs, driven by hand: each `pass` records the starts
 * as RUNNING (as the daemon would), and `finish` reports a task's status.
 */
export class Scene {
  config!: Config;
  nodes!: NodeSet;
  readonly statuses = new TaskStatuses();
  readonly scheduler = new Scheduler();
  readonly random = seededRandom(42);
  private invocations = 0;
  last: PassResult | undefined;

  static async create(settings: Record<string, unknown>, jobs: Record<string, unknown>): Promise<Scene> {
    const scene = new Scene();
    await scene.reconfigure(settings, jobs);
    return scene;
  }

  async reconfigure(
    settings: Record<string, unknown>,
    jobs: Record<string, unknown>,
    refreshNodes = true,
  ): Promise<void> {
    const input: Record<string, unknown> = { bistro_settings: { enabled: true, ...settings } };
    for (const [name, job] of Object.entries(jobs)) input[`bistro_job->${name}`] = job;
    this.config = parseConfig(input);
    if (refreshNodes)
      this.nodes = await fetchNodes(this.config.settings, {
        instanceName: 'inst',
        now: 10,
        names: this.statuses.names,
      });
  }

  pass(now = 1000): PassResult {
    const result = this.scheduler.run({
      config: this.config,
      nodes: this.nodes,
      statuses: this.statuses,
      now,
      random: this.random,
    });
    for (const start of result.starts) {
      const task: RunningTask = {
        job: start.job.name,
        node: start.node,
        invocationId: `inv${++this.invocations}`,
        startTime: now + this.invocations / 1000,
        charges: start.charges,
        backoff: start.backoff,
        workerShard: 'local',
      };
      this.statuses.recordStart(task);
    }
    this.last = result;
    return result;
  }

  started(result = this.last!): string[] {
    return result.starts.map((s) => `${s.job.name}:${s.node}`);
  }

  finish(job: string, node: string, raw: string, now = 1000): void {
    const task = this.statuses.runningTask(job, node);
    if (!task) throw new Error(`${job} on ${node} is not running`);
    const outcome = this.statuses.recordFinish(job, node, task.invocationId, parseStatusReport(raw), now);
    if (!outcome.applied) throw new Error(outcome.reason);
  }

  running(): string[] {
    return [...this.statuses.runningTasks()].map((t) => `${t.job}:${t.node}`).sort();
  }
}

/** Settings with two levels (host, db) from a manual source. */
export function hostsAndDbs(
  prefs: Record<string, unknown>,
  resources: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return {
    nodes: { levels: ['host', 'db'], node_order: 'original', node_sources: [{ source: 'manual', prefs }] },
    resources,
    ...extra,
  };
}
