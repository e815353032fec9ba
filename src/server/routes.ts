/**
 * The REST handlers' route table: each handler's name, whether it changes
 * state (and so needs the token), and the schema of its arguments.
 * Validation happens here, centrally, in the API's worker thread, so only
 * well-formed, bounded arguments ever reach the scheduler's thread. This
 * module loads no store and no scheduler code.
 *
 * Unknown argument keys are ignored (the original's clients send some we do
 * not use); a known key with a bad value is a 400 naming the key.
 */
import { z } from 'zod';
import { MAX_PATTERN_LENGTH } from '../text/linearRegex.js';
import { ApiError } from './apiErrors.js';

/** Longest job or node name an argument may carry. */
export const MAX_NAME_LENGTH = 4096;
/** Most names in one list argument. */
export const MAX_LIST_LENGTH = 100_000;
/** Most rows `job_node_statuses` returns at once. */
export const MAX_PAGE_LIMIT = 1000;
const MAX_INT32 = 2 ** 31 - 1;
const MAX_INT64 = 2n ** 63n - 1n;

const name = z.string().max(MAX_NAME_LENGTH);
const requiredName = name.min(1, 'must be a non-empty string');
/** Missing or empty means "all". */
const names = z.array(name).max(MAX_LIST_LENGTH).optional();
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const pattern = z.string().max(MAX_PATTERN_LENGTH).optional();
const lineId = z
  .string()
  .refine((id) => /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_INT64, 'must be a line id (from next_line_id)');
const sort = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(['asc', 'desc'], { error: 'must be "asc" or "desc"' }));

const none = z.object({});
const byJobs = z.object({ jobs: names });

export const ROUTES = {
  errors: { mutating: false, args: none },
  refresh_time: { mutating: false, args: none },
  leader: { mutating: false, args: none },
  workers: { mutating: false, args: none },
  jobs: { mutating: false, args: byJobs },
  sorted_node_names: { mutating: false, args: none },
  nodes: {
    mutating: false,
    args: z.object({
      nodes: names,
      fields: z
        .array(z.enum(['resources', 'disabled']))
        .max(2)
        .optional(),
    }),
  },
  running_tasks: { mutating: false, args: byJobs },
  job_node_runtime: { mutating: false, args: byJobs },
  histogram: {
    mutating: false,
    args: z.object({ jobs: names, num_samples: int(0, MAX_INT32).optional() }),
  },
  task_logs: {
    mutating: false,
    args: z.object({
      log_type: z.enum(['stdout', 'stderr', 'statuses'], {
        error: 'must be "stdout", "stderr" or "statuses"',
      }),
      jobs: names,
      nodes: names,
      sort: sort.optional(),
      time: int(0, 2 ** 40).optional(),
      line_id: lineId.optional(),
      regex_filter: pattern,
      columns: z.unknown().optional(),
    }),
  },
  job_node_statuses: {
    mutating: false,
    args: z.object({
      job: requiredName,
      status: z.string().max(64).optional(),
      regex: pattern,
      offset: int(0, MAX_INT32).optional(),
      limit: int(1, MAX_PAGE_LIMIT).optional(),
    }),
  },
  forgive_jobs: { mutating: true, args: z.object({ jobs: names }) },
  kill_task: { mutating: true, args: z.object({ job_id: requiredName, node_id: requiredName }) },
  save_job: {
    mutating: true,
    args: z.object({ job_id: requiredName, job: z.record(z.string(), z.unknown()) }),
  },
  delete_job: { mutating: true, args: z.object({ job_id: requiredName }) },
  save_settings: { mutating: true, args: z.object({ settings: z.record(z.string(), z.unknown()) }) },
  job_grid: {
    mutating: false,
    args: z.object({ job: requiredName, group_level: z.string().min(1).max(256).optional() }),
  },
  task_history: {
    mutating: false,
    args: z.object({ job_id: requiredName, node_id: requiredName, limit: int(1, 1000).optional() }),
  },
} as const satisfies Record<string, { readonly mutating: boolean; readonly args: z.ZodType }>;

export type RouteName = keyof typeof ROUTES;
export type RouteArgs<N extends RouteName> = z.output<(typeof ROUTES)[N]['args']>;

/** The route of a handler name; own names only, so `__proto__` is unknown too. */
export function routeOf(handler: unknown): (typeof ROUTES)[RouteName] | undefined {
  return typeof handler === 'string' && Object.hasOwn(ROUTES, handler)
    ? ROUTES[handler as RouteName]
    : undefined;
}

export interface ValidatedQuery {
  readonly handler: RouteName;
  readonly args: Readonly<Record<string, unknown>>;
  /** Who sent it (a token's name, "api" when no token is configured); recorded with config changes. */
  readonly actor?: string;
}

/** Checks one query of the envelope; throws ApiError (400) naming the handler or argument. */
export function validateQuery(query: unknown): ValidatedQuery {
  if (query === null || typeof query !== 'object' || Array.isArray(query))
    throw new ApiError('a query must be an object with a "handler"');
  const { handler, ...rest } = query as Record<string, unknown>;
  if (typeof handler !== 'string') throw new ApiError('a query needs a "handler" string');
  const route = routeOf(handler);
  if (!route) throw new ApiError(`unknown handler: ${JSON.stringify(handler.slice(0, 100))}`);
  const parsed = route.args.safeParse(rest);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `"${issue.path.map(String).join('.') || '(arguments)'}" ${issue.message}`,
    );
    throw new ApiError(`${handler}: ${problems.join('; ')}`);
  }
  return { handler: handler as RouteName, args: parsed.data };
}
