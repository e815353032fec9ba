/** `task_history`: a task's attempts, newest last, read from its events and stderr. */
import type { Handler } from '../apiContext.js';
import { NotFoundError } from '../apiErrors.js';
import { queryDeadline } from '../queryBudget.js';
import { taskHistory } from '../taskHistory.js';

/** Events and stderr lines read per query, newest first: a bound for a task with a long past. */
const EVENT_ROWS = 5000;
const STDERR_ROWS = 1000;

export const taskHistoryHandler: Handler<'task_history'> = async (args, context) => {
  const { job_id: job, node_id: node } = args;
  const known = context.config().jobs.has(job) || context.statuses.table(job) !== undefined;
  if (!known) throw new NotFoundError(`Unknown job ${job}`);
  const deadline = queryDeadline();
  const [events, stderr] = await Promise.all([
    context.queryLogs({
      table: 'statuses',
      jobs: [job],
      nodes: [node],
      sort: 'desc',
      pageSize: EVENT_ROWS,
      deadline,
    }),
    context.queryLogs({
      table: 'stderr',
      jobs: [job],
      nodes: [node],
      sort: 'desc',
      pageSize: STDERR_ROWS,
      deadline,
    }),
  ]);
  const attempts = taskHistory([...events.lines].reverse(), [...stderr.lines].reverse());
  if (attempts.length === 0 && context.statuses.get(job, node) === undefined) {
    const nodes = context.nodes();
    if (!nodes || !nodes.has(node)) throw new NotFoundError(`Unknown node ${node}`);
  }
  const limit = args.limit ?? 20;
  return { job, node, attempts: attempts.slice(-limit), truncated: events.next_line_id !== '-1' };
};
