/** Runs one query of the REST envelope against the scheduler's state. */
import { ApiError, type ApiContext } from './apiContext.js';
import { HANDLERS } from './handlers/index.js';

export type QueryResult = { data: unknown } | { error: string };

export async function runQuery(query: unknown, context: ApiContext): Promise<QueryResult> {
  if (query === null || typeof query !== 'object' || Array.isArray(query))
    return { error: 'a query must be an object with a "handler"' };
  const args = query as Record<string, unknown>;
  const name = args['handler'];
  if (typeof name !== 'string') return { error: 'a query needs a "handler"' };
  const handler = HANDLERS[name];
  if (!handler) return { error: `Unknown handler: ${name}` };
  try {
    return { data: await handler.run(args, context) };
  } catch (error) {
    if (error instanceof ApiError) return { error: error.message };
    return { error: `${name} failed: ${(error as Error).message}` };
  }
}

/** The query's answer as the JSON text the envelope embeds. */
export async function runQueryToJson(query: unknown, context: ApiContext): Promise<string> {
  return JSON.stringify(await runQuery(query, context));
}
