/**
 * How long one query may hold the scheduler's thread. A query that reaches
 * its budget answers with what it has and a cursor to continue from, so a
 * slow filter over a large log or node set delays task starts, kills and
 * `/metrics` by at most this much.
 */
export const QUERY_TIME_BUDGET_MS = 50;

export function queryDeadline(): number {
  return performance.now() + QUERY_TIME_BUDGET_MS;
}
