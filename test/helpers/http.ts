import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function post(
  port: number,
  body: unknown,
  token?: string,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** One query; returns its {data} or {error}. */
export async function call(
  port: number,
  handler: string,
  args: Record<string, unknown> = {},
  token?: string,
): Promise<{ data?: unknown; error?: string }> {
  const { body } = await post(port, { q: { handler, ...args } }, token);
  return (body as Record<string, { data?: unknown; error?: string }>)['q']!;
}
