/** `task_logs`: stdout, stderr or events, paged by line id, with a correct cursor under `regex_filter`. */
import { queryTaskLogs } from '../../store/taskLogQueries.js';
import { LOG_TABLES, type LogTable } from '../../store/taskLogStore.js';
import { ApiError, type Handler } from '../apiContext.js';

export const taskLogs: Handler = {
  mutating: false,
  run: (args, context) => {
    const table = args['log_type'];
    if (!LOG_TABLES.includes(table as LogTable))
      throw new ApiError('"log_type" must be "stdout", "stderr" or "statuses"');
    if (args['columns'] !== undefined) throw new ApiError('Custom columns are currently not supported.');
    if (args['time'] !== undefined && args['line_id'] !== undefined)
      throw new ApiError('Give "time" or "line_id", not both');
    const sort = String(args['sort'] ?? 'desc').toLowerCase();
    if (sort !== 'asc' && sort !== 'desc') throw new ApiError('"sort" must be "asc" or "desc"');
    let lineId: bigint | undefined;
    if (args['line_id'] !== undefined) {
      if (typeof args['line_id'] !== 'string' || !/^\d+$/.test(args['line_id']))
        throw new ApiError('"line_id" must be a line id string');
      lineId = BigInt(args['line_id']);
    }
    const time = args['time'];
    if (time !== undefined && (typeof time !== 'number' || !Number.isInteger(time)))
      throw new ApiError('"time" must be an integer epoch second');
    let regex: RegExp | undefined;
    if (args['regex_filter'] !== undefined && args['regex_filter'] !== '') {
      try {
        regex = new RegExp(String(args['regex_filter']));
      } catch (error) {
        throw new ApiError(`invalid "regex_filter": ${(error as Error).message}`);
      }
    }
    const list = (name: string) => (Array.isArray(args[name]) ? (args[name] as string[]) : undefined);
    context.flushLogs();
    return queryTaskLogs(context.logDb, {
      table: table as LogTable,
      jobs: list('jobs'),
      nodes: list('nodes'),
      sort,
      time: time as number | undefined,
      lineId,
      regex,
    });
  },
};
