/**
 * `job_node_statuses` (beyond the original; the web UI's job grid): one page
 * of a job's nodes at its task level with each node's status code, filtered
 * by status label and a name regex. `offset`/`limit` page through them, so a
 * 100k-node job is browsed without sending 100k rows. A scan that reaches
 * the query's time budget stops: `partial` is true and `total` counts the
 * nodes up to `scanned`.
 */
import { Eligibility } from '../../scheduler/eligibility.js';
import { statusCode, statusLabel, StatusBits as B, type TaskStatus } from '../../statuses/taskStatus.js';
import type { Handler } from '../apiContext.js';
import { NotFoundError } from '../apiErrors.js';
import { queryDeadline } from '../queryBudget.js';
import { regexArg } from '../userRegex.js';

const CLOCK_CHECK_MASK = 255;

export const jobNodeStatuses: Handler<'job_node_statuses'> = (args, context) => {
  const name = args.job;
  const config = context.config();
  const job = config.jobs.get(name);
  if (!job) throw new NotFoundError(`Unknown job ${name}`);
  const regex = regexArg('regex', args.regex);
  const nodes = context.nodes();
  if (!nodes || job.errors !== undefined) return { total: 0, nodes: [] };
  const wanted = args.status === '' ? undefined : args.status;
  const offset = args.offset ?? 0;
  const limit = args.limit ?? 100;
  const deadline = queryDeadline();
  const index = context.nodeIndex(nodes);
  const mask = context.eligibility.get(job, config.settings, index);
  const table = context.statuses.table(name);
  const now = Date.now() / 1000;
  const atLevel = nodes.atLevel(job.levelForTasks);
  const page: {
    node: string;
    status: string;
    code: string;
    time?: number;
    message?: string;
    exit_code?: number;
    reason?: string;
  }[] = [];
  const reasons = context.notRunning(job);
  let total = 0;
  let k = 0;
  for (; k < atLevel.length; k++) {
    if ((k & CLOCK_CHECK_MASK) === CLOCK_CHECK_MASK && performance.now() > deadline) break;
    const nodeName = nodes.name(atLevel[k]!);
    if (regex && !regex.test(nodeName)) continue;
    const status = table?.get(index.nameIds[atLevel[k]!]!);
    const bits = shownBits(status, mask[k]!, now);
    const label = labelOf(bits);
    if (wanted && label !== wanted) continue;
    if (total >= offset && page.length < limit) {
      page.push({
        node: nodeName,
        status: label,
        code: statusCode(bits),
        ...(status ? { time: status.time } : {}),
        ...lastWords(status?.data),
        ...reasonOf(reasons?.reason(atLevel[k]!, mask[k]!)),
      });
    }
    total++;
  }
  return k < atLevel.length ? { total, nodes: page, partial: true, scanned: k } : { total, nodes: page };
};

function reasonOf(reason: string | undefined): { reason?: string } {
  return reason === undefined ? {} : { reason };
}

/** What a status's data says about how the task ended: its message and exit code, if any. */
function lastWords(data: unknown): { message?: string; exit_code?: number } {
  if (data === null || typeof data !== 'object') return {};
  const fields = data as Record<string, unknown>;
  const message = fields['exception'] ?? fields['message'];
  return {
    ...(typeof message === 'string' ? { message } : {}),
    ...(typeof fields['exit_code'] === 'number' ? { exit_code: fields['exit_code'] } : {}),
  };
}

/**
 * A node's status as the UI shows it: unstarted when eligible and never
 * run, backoff only while it lasts, disabled or avoided by its eligibility.
 */
export function shownBits(status: TaskStatus | undefined, eligibility: number, now: number): number {
  let bits = status ? status.bits : eligibility === Eligibility.ELIGIBLE ? B.UNSTARTED : 0;
  if (status && bits & B.USES_BACKOFF && !(status.time + status.backoffSec > now)) bits &= ~B.USES_BACKOFF;
  if (eligibility === Eligibility.DISABLED) bits |= B.DISABLED;
  if (eligibility === Eligibility.AVOIDED) bits |= B.AVOIDED;
  return bits;
}

/** The UI's status categories: done, running, backoff, failed, incomplete, unstarted, avoided, disabled. */
export function labelOf(bits: number): string {
  if (bits & B.DISABLED) return 'disabled';
  if (bits & B.AVOIDED) return 'avoided';
  if (bits & B.USES_BACKOFF) return 'backoff';
  if (bits & B.ERROR) return 'error';
  return statusLabel(bits);
}
