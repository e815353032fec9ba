/** The scheduler's REST API from the browser: the Bistro envelope, and the bearer token when asked for. */

export interface QueryResult<T> {
  data?: T;
  error?: string;
}

const TOKEN_KEY = 'bistro-api-token';

export class Unauthorized extends Error {}

/** Sends several named queries in one request. */
export async function queries(
  named: Record<string, Record<string, unknown>>,
  mutating = false,
): Promise<Record<string, QueryResult<unknown>>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers['authorization'] = `Bearer ${token}`;
  const response = await fetch('/', { method: 'POST', headers, body: JSON.stringify(named) });
  if (response.status === 401) {
    if (mutating) {
      const entered = window.prompt('This action needs the scheduler API token:');
      if (entered) {
        sessionStorage.setItem(TOKEN_KEY, entered.trim());
        return queries(named, false);
      }
    }
    throw new Unauthorized('a valid API token is required');
  }
  const body = (await response.json()) as Record<string, QueryResult<unknown>> & { error?: unknown };
  // A failed query answers with a 4xx whose envelope still carries each query's own error.
  if (!response.ok && typeof body.error === 'string') throw new Error(body.error);
  if (!response.ok && Object.keys(named).some((id) => body[id] === undefined))
    throw new Error(`HTTP ${response.status}`);
  return body;
}

export async function query<T>(
  handler: string,
  args: Record<string, unknown> = {},
  mutating = false,
): Promise<T> {
  const result = (await queries({ q: { handler, ...args } }, mutating))['q']!;
  if (result.error !== undefined) throw new Error(result.error);
  return result.data as T;
}
