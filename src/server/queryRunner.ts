/** Runs one validated query of the REST envelope against the scheduler's state. */
import type { ApiContext, Handler } from './apiContext.js';
import { ApiError } from './apiErrors.js';
import { HANDLERS } from './handlers/index.js';
import { ROUTES, type RouteName, type ValidatedQuery } from './routes.js';

/** A query's answer: `{data}`, or `{error}` with the HTTP status it calls for. */
export type QueryResult = { data: unknown } | { error: string; status: number };

export async function runQuery(query: ValidatedQuery, context: ApiContext): Promise<QueryResult> {
  const handler = HANDLERS[query.handler] as Handler<RouteName>;
  const role = context.leadership();
  if (ROUTES[query.handler].mutating && role && !role.leads) {
    // Only the leader changes anything; a standby points at it.
    const leader = role.leader?.name
      ? `the leader is ${role.leader.name}${role.leader.apiUrl ? ` at ${role.leader.apiUrl}` : ''}`
      : 'no scheduler leads at the moment';
    return { error: `this scheduler is a standby; ${leader}`, status: 409 };
  }
  try {
    return { data: await handler(query.args as never, context, { actor: query.actor ?? 'api' }) };
  } catch (error) {
    if (error instanceof ApiError) return { error: error.message, status: error.status };
    return { error: `${query.handler} failed: ${String((error as Error)?.message ?? error)}`, status: 500 };
  }
}
