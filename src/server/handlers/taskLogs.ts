/** `task_logs`: stdout, stderr or events, paged by line id, with a correct cursor under `regex_filter`. */
import type { Handler } from '../apiContext.js';
import { ApiError } from '../apiErrors.js';
import { queryDeadline } from '../queryBudget.js';
import { regexArg } from '../userRegex.js';

export const taskLogs: Handler<'task_logs'> = (args, context) => {
  if (args.columns !== undefined) throw new ApiError('Custom columns are currently not supported.');
  if (args.time !== undefined && args.line_id !== undefined)
    throw new ApiError('Give "time" or "line_id", not both');
  const filter = regexArg('regex_filter', args.regex_filter);
  return context.queryLogs({
    table: args.log_type,
    jobs: args.jobs,
    nodes: args.nodes,
    sort: args.sort ?? 'desc',
    time: args.time,
    lineId: args.line_id === undefined ? undefined : BigInt(args.line_id),
    filter,
    deadline: queryDeadline(),
  });
};
