/**
 * Scheduling pass at Bistro scale (issue: scheduling core). Synthetic
 * host -> db trees with saturated resources (host concurrency 2, db
 * concurrency 1): the first pass fills every host, and the measured passes
 * then find every candidate blocked, which is the steady state of a busy
 * scheduler. The same passes run through the straightforward reference
 * implementation on the same state, in the same process (not at ten million
 * nodes, where one reference pass takes minutes).
 */
import { parseConfig, type Config } from '../src/config/config.js';
import type { NodeSet } from '../src/nodes/nodeSet.js';
import { ConfigAssembly } from '../src/config/configAssembly.js';
import { fetchNodes } from '../src/nodes/fetchNodes.js';
import { Scheduler } from '../src/scheduler/pass.js';
import { seededRandom } from '../src/scheduler/random.js';
import { TaskStatuses } from '../src/statuses/taskStatuses.js';
import { percentile, printFigures, printMachine, round, rssMb, timeMs, type Figure } from './harness.js';
import { referencePass } from './referenceScheduler.js';
import { hostDbNodes, measureRefreshKillLatency } from './refreshKillLatency.js';
import { measureApart } from './schedulerScale.js';

export interface Scale {
  readonly hosts: number;
  readonly dbsPerHost: number;
  readonly jobs: number;
  readonly passes: number;
  readonly referencePasses: number;
  /**
   * Measured in a process of its own (bench/schedulerScale.ts), so its
   * memory figure and its collector's work hold nothing of the scales before.
   */
  readonly ownProcess?: boolean;
}

const SCALES: readonly Scale[] = [
  { hosts: 1000, dbsPerHost: 100, jobs: 10, passes: 15, referencePasses: 3 },
  { hosts: 10000, dbsPerHost: 100, jobs: 5, passes: 7, referencePasses: 2 },
  // Ten million nodes: the reference would take minutes per pass there.
  { hosts: 100000, dbsPerHost: 100, jobs: 5, passes: 5, referencePasses: 0, ownProcess: true },
];

export async function measure(scale: Scale): Promise<Figure[]> {
  const input: Record<string, unknown> = {
    bistro_settings: {
      enabled: true,
      nodes: hostDbNodes(scale.hosts, scale.dbsPerHost),
      resources: {
        host: { host_concurrency: { limit: 2, default: 1 } },
        db: { db_concurrency: { limit: 1, default: 1 } },
      },
    },
  };
  for (let j = 0; j < scale.jobs; j++) input[`bistro_job->job${j}`] = { owner: 'bench' };
  const config = parseConfig(input);
  const nodes = await fetchNodes(config.settings, { instanceName: 'scheduler' });
  const nodeCount = nodes.size - 1 - scale.hosts;
  const measured = saturatedPasses(config, nodes, scale.passes, scale.referencePasses);
  const rss = measured.rssMb;
  return figures(measured, `${nodeCount} nodes x ${scale.jobs} jobs`, {
    nodes: nodeCount,
    jobs: scale.jobs,
    running_tasks: measured.runningTasks,
  }).concat([
    {
      metric: 'rss_mb',
      value: rss,
      unit: 'MB',
      nodes: nodeCount,
      jobs: scale.jobs,
      running_tasks: measured.runningTasks,
    },
  ]);
}

interface PassTimes {
  readonly firstPassMs: number;
  readonly firstStarts: number;
  readonly samples: readonly number[];
  readonly referenceSamples: readonly number[];
  readonly runningTasks: number;
  /** After the timed passes, before the reference's (which allocates far more). */
  readonly rssMb: number;
}

/**
 * Runs the first pass (its starts recorded as running), then `passes`
 * timed passes and `referencePasses` of the reference on the saturated
 * state that leaves; the reference must start nothing there.
 */
function saturatedPasses(config: Config, nodes: NodeSet, passes: number, referencePasses: number): PassTimes {
  // As in the scheduler: the node names were interned where the statuses keep theirs.
  const statuses = new TaskStatuses(nodes.interner);
  const scheduler = new Scheduler();
  const random = seededRandom(1);
  let firstStarts = 0;
  const firstPassMs = timeMs(() => {
    const result = scheduler.run({ config, nodes, statuses, now: 1000, random });
    firstStarts = result.starts.length;
    result.starts.forEach((start, index) =>
      statuses.recordStart({
        job: start.job.name,
        node: start.node,
        invocationId: `i${index}`,
        startTime: 1000,
        charges: start.charges,
        backoff: start.backoff,
        workerShard: 'local',
      }),
    );
  });
  const samples: number[] = [];
  for (let i = 0; i < passes; i++)
    samples.push(timeMs(() => scheduler.run({ config, nodes, statuses, now: 1001 + i, random })));
  const rss = rssMb();
  const referenceSamples: number[] = [];
  let referenceStarts = -1;
  for (let i = 0; i < referencePasses; i++) {
    referenceSamples.push(
      timeMs(() => (referenceStarts = referencePass(config, nodes, statuses, 1001 + i, random).length)),
    );
  }
  if (referencePasses > 0 && referenceStarts !== 0)
    throw new Error('the reference started tasks in a saturated state: the benchmark state is wrong');
  return {
    firstPassMs,
    firstStarts,
    samples,
    referenceSamples,
    runningTasks: statuses.runningCount,
    rssMb: rss,
  };
}

/** Prints one line and returns the pass figures of one shape. */
function figures(times: PassTimes, shape: string, context: Record<string, unknown>): Figure[] {
  const p50 = percentile(times.samples, 50);
  const referenceP50 = percentile(times.referenceSamples, 50);
  console.log(
    `${shape}: first pass ${round(times.firstPassMs)} ms (${times.firstStarts} starts), ` +
      `saturated pass p50 ${round(p50)} ms (p90 ${round(percentile(times.samples, 90))} ms)` +
      (times.referenceSamples.length > 0 ? `, reference p50 ${round(referenceP50)} ms` : ''),
  );
  const own: Figure[] = [
    { metric: 'pass_ms_p50', value: round(p50), unit: 'ms', ...context },
    {
      metric: 'first_pass_ms',
      value: round(times.firstPassMs),
      unit: 'ms',
      ...context,
      starts: times.firstStarts,
    },
  ];
  if (times.referenceSamples.length === 0) return own;
  return own.concat([
    { metric: 'reference_pass_ms_p50', value: round(referenceP50), unit: 'ms', ...context },
    { metric: 'ratio_vs_reference', value: round(referenceP50 / p50), unit: 'x faster', ...context },
  ]);
}

/** Tasks at most this many at once in the task-queue shape: every pass after the first finds them all blocked. */
const QUEUE_CONCURRENCY = 64;

/**
 * The task-queue shape: `jobs` jobs of one task each (on the instance node),
 * as programs submit them to a config in the database; the config is
 * assembled entry by entry, as the scheduler's database loader does.
 */
export async function measureTaskQueue(jobs: number, passes = 15, referencePasses = 3): Promise<Figure[]> {
  const assembly = new ConfigAssembly();
  assembly.set(
    'bistro_settings',
    {
      enabled: true,
      nodes: { levels: [], node_sources: [] },
      resources: { instance: { concurrency: { limit: QUEUE_CONCURRENCY, default: 1 } } },
    },
    0,
  );
  for (let j = 0; j < jobs; j++) assembly.set(`bistro_job->task${j}`, { owner: 'bench' }, j + 1);
  const config = assembly.build();
  const nodes = await fetchNodes(config.settings, { instanceName: 'scheduler' });
  const measured = saturatedPasses(config, nodes, passes, referencePasses);
  return figures(measured, `task queue, ${jobs} one-task jobs`, {
    nodes: 1,
    jobs,
    running_tasks: measured.runningTasks,
    shape: 'task_queue',
  });
}

export async function runSchedulerBench(): Promise<void> {
  printMachine('scheduler');
  const figures: Figure[] = [];
  for (const scale of SCALES)
    figures.push(...(scale.ownProcess ? measureApart(scale) : await measure(scale)));
  figures.push(...(await measureTaskQueue(10_000)));
  figures.push(...(await measureRefreshKillLatency(30_000)));
  printFigures('scheduler', figures);
}
