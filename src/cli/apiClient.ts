/** Talking to a running scheduler's REST API from the CLI. */
import { readFileSync } from 'node:fs';
import { CliExit, printError } from './output.js';

export const DEFAULT_URL = 'http://127.0.0.1:6790';

export interface ClientOptions {
  url: string;
  tokenFile?: string;
  json?: boolean;
  /** Times in UTC instead of local time. */
  utc?: boolean;
}

/** Sends one query; returns its `data`, or prints the error and exits 1. */
export async function query(
  options: ClientOptions,
  handler: string,
  args: Record<string, unknown> = {},
): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.tokenFile)
    headers['authorization'] = `Bearer ${readFileSync(options.tokenFile, 'utf8').trim()}`;
  let response: Response;
  try {
    response = await fetch(options.url.replace(/\/$/, '') + '/', {
      method: 'POST',
      headers,
      body: JSON.stringify({ q: { handler, ...args } }),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    printError(
      `cannot reach the scheduler at ${options.url} (${cause?.code ?? cause?.message ?? (error as Error).message}); is "bistro scheduler" running with its REST API on?`,
    );
    throw new CliExit(1);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    printError(`${options.url} answered HTTP ${response.status} with something that is not JSON`);
    throw new CliExit(1);
  }
  const result = (body as Record<string, { data?: unknown; error?: string } | undefined>)['q'];
  if (!response.ok && result?.error === undefined) {
    printError(`${handler}: HTTP ${response.status}: ${(body as { error?: string }).error ?? text}`);
    throw new CliExit(1);
  }
  if (!result || result.error !== undefined) {
    printError(`${handler}: ${result?.error ?? 'no answer'}`);
    throw new CliExit(1);
  }
  return result.data;
}
