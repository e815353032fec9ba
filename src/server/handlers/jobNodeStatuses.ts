/**
 * `job_node_statuses` (beyond the original; the web UI's job grid): one page
 * of a job's nodes at its task level with each node's status code, filtered
 * by status label and a name regex. `offset`/`limit` page through them, so a
 * 100k-node job is browsed without sending 100k rows.
 */
import { Eligibility } from '../../scheduler/eligibility.js';
import { statusCode, statusLabel, StatusBits as B } from '../../statuses/taskStatus.js';
import { ApiError, stringArg, type Handler } from '../apiContext.js';

const MAX_LIMIT = 1000;

export const jobNodeStatuses: Handler = {
  mutating: false,
  run: (args, context) => {
    const name = stringArg(args, 'job');
    const config = context.config();
    const job = config.jobs.get(name);
    if (!job) throw new ApiError(`Unknown job ${name}`);
    const nodes = context.nodes();
    if (!nodes || job.errors !== undefined) return { total: 0, nodes: [] };
    let regex: RegExp | undefined;
    try {
      regex =
        typeof args['regex'] === 'string' && args['regex'] !== '' ? new RegExp(args['regex']) : undefined;
    } catch (error) {
      throw new ApiError(`invalid "regex": ${(error as Error).message}`);
    }
    const wanted = typeof args['status'] === 'string' && args['status'] !== '' ? args['status'] : undefined;
    const offset = Math.max(0, Number(args['offset'] ?? 0) | 0);
    const limit = Math.min(MAX_LIMIT, Math.max(1, Number(args['limit'] ?? 100) | 0));
    const mask = context.eligibility.get(job, config.settings, context.nodeIndex(nodes));
    const table = context.statuses.table(name);
    const now = Date.now() / 1000;
    const atLevel = nodes.atLevel(job.levelForTasks);
    const page: { node: string; status: string; code: string; time?: number }[] = [];
    let total = 0;
    for (let k = 0; k < atLevel.length; k++) {
      const nodeName = nodes.names[atLevel[k]!]!;
      if (regex && !regex.test(nodeName)) continue;
      const status = table?.get(context.statuses.names.lookup(nodeName));
      let bits = status ? status.bits : mask[k] === Eligibility.ELIGIBLE ? B.UNSTARTED : 0;
      if (status && bits & B.USES_BACKOFF && !(status.time + status.backoffSec > now))
        bits &= ~B.USES_BACKOFF;
      if (mask[k] === Eligibility.DISABLED) bits |= B.DISABLED;
      if (mask[k] === Eligibility.AVOIDED) bits |= B.AVOIDED;
      const label = labelOf(bits);
      if (wanted && label !== wanted) continue;
      if (total >= offset && page.length < limit) {
        page.push({
          node: nodeName,
          status: label,
          code: statusCode(bits),
          ...(status ? { time: status.time } : {}),
        });
      }
      total++;
    }
    return { total, nodes: page };
  },
};

/** The UI's status categories: done, running, backoff, failed, incomplete, unstarted, avoided, disabled. */
export function labelOf(bits: number): string {
  if (bits & B.DISABLED) return 'disabled';
  if (bits & B.AVOIDED) return 'avoided';
  if (bits & B.USES_BACKOFF) return 'backoff';
  if (bits & B.ERROR) return 'error';
  return statusLabel(bits);
}
