/**
 * The HTTP server (SPEC §9): Bistro's REST envelope on POST /, Prometheus
 * metrics on GET /metrics. Binds 127.0.0.1 by default. With a token file,
 * mutating handlers need `Authorization: Bearer <token>` (and reads too,
 * when asked). A malformed body is an HTTP 400 with a JSON error; every
 * other problem is JSON as well.
 *
 * The app runs in a worker thread (serverWorker.ts) and answers queries
 * through an ApiBackend, which asks the scheduler's thread
 * (apiServerHost.ts), so that HTTP parsing never delays the scheduler.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { HANDLERS } from './handlers/index.js';

export interface HttpOptions {
  readonly port: number;
  readonly address: string;
  /** Bearer token required for mutating handlers; undefined = open. */
  readonly token?: string;
  readonly tokenForReads?: boolean;
  readonly bodyLimitBytes?: number;
}

/** Where the app's answers come from. */
export interface ApiBackend {
  /** One query's answer as JSON text: `{"data": ...}` or `{"error": "..."}`. */
  query(query: unknown): Promise<string>;
  /** The Prometheus exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** A request that failed with a 5xx. */
  logError(error: Error): void;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** The built web UI (`npm run build`), the same path from src/server and dist/server. */
const WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/**
 * Read queries run one at a time, each after a turn of the event loop, so a
 * burst of reads cannot delay a kill request (which skips the line), task
 * completions or scheduling passes by more than about one query.
 */
class ReadGate {
  private busy = false;
  private readonly waiting: (() => void)[] = [];

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) setImmediate(next);
      else this.busy = false;
    }
  }
}

export function buildHttpApp(backend: ApiBackend, options: HttpOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT, logger: false });
  const reads = new ReadGate();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) backend.logError(error);
    void reply.code(status).send({ error: error.message });
  });
  app.setNotFoundHandler(
    (request, reply) =>
      void reply.code(404).send({ error: `no such endpoint: ${request.method} ${request.url}` }),
  );

  const authorized = (header: string | undefined): boolean => {
    if (options.token === undefined) return true;
    const match = /^Bearer (.+)$/.exec(header ?? '');
    if (!match) return false;
    const given = Buffer.from(match[1]!);
    const expected = Buffer.from(options.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  if (existsSync(WEB_ROOT)) {
    void app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: ['index.html'] });
  } else {
    app.get('/', async (_request, reply) =>
      reply.code(404).send({ error: 'the web UI is not built; run "npm run build"' }),
    );
  }

  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await backend.metrics();
    return reply.header('content-type', contentType).send(body);
  });

  app.post('/', async (request, reply) => {
    let body: unknown;
    try {
      body = JSON.parse(typeof request.body === 'string' ? request.body : '');
    } catch (error) {
      return reply.code(400).send({ error: `request body is not JSON: ${(error as Error).message}` });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return reply.code(400).send({ error: 'request body must be a JSON object of named queries' });
    }
    const queries = Object.entries(body as Record<string, unknown>).filter(([id]) => id !== 'prefs');
    const mutating = queries.some(
      ([, q]) => HANDLERS[(q as { handler?: string } | null)?.handler ?? '']?.mutating,
    );
    if ((mutating || options.tokenForReads) && !authorized(request.headers.authorization)) {
      return reply.code(401).send({
        error:
          options.token === undefined ? 'unauthorized' : 'a valid bearer token is required for this request',
      });
    }
    const answer = async () => {
      const parts: string[] = [];
      for (const [id, query] of queries) parts.push(`${JSON.stringify(id)}:${await backend.query(query)}`);
      return reply.type('application/json; charset=utf-8').send(`{${parts.join(',')}}`);
    };
    return mutating ? answer() : reads.run(answer);
  });
  return app;
}
