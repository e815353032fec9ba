/**
 * The HTTP server: Bistro's REST envelope on POST /, Prometheus metrics on
 * GET /metrics, the web UI on GET /. Binds 127.0.0.1 by default. With a
 * token file, mutating handlers need `Authorization: Bearer <token>` (and
 * reads and /metrics too, when asked).
 *
 * Every request is checked before its body is used (requestGuard.ts): the
 * Host must name this server, a POST must be same-origin, one that changes
 * state must be `application/json` (so a browser must preflight), the body is bounded in size and depth, and each query is
 * validated against its route (routes.ts). A bad request is a 4xx with a
 * JSON `error`; a bad query is a 4xx whose envelope carries the query's
 * `error`, as the original's clients read it.
 *
 * The app runs in a worker thread (serverWorker.ts) and answers queries
 * through an ApiBackend, which asks the scheduler's thread
 * (apiServerHost.ts), so that HTTP parsing never delays the scheduler.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { ApiError } from './apiErrors.js';
import { OPEN_API_ACTOR, tokenHolder, type ApiToken } from './apiTokens.js';
import {
  crossSiteProblem,
  hostProblem,
  isJsonContentType,
  MAX_BODY_DEPTH,
  nestsDeeperThan,
} from './requestGuard.js';
import { routeOf, validateQuery, type ValidatedQuery } from './routes.js';

export interface HttpOptions {
  readonly port: number;
  readonly address: string;
  /** Bearer tokens accepted for mutating handlers; undefined = open. */
  readonly tokens?: readonly ApiToken[];
  readonly tokenForReads?: boolean;
  readonly bodyLimitBytes?: number;
  /** Host names the Host header may carry besides the bound address. */
  readonly allowedHosts?: readonly string[];
}

/** One query's answer: the JSON text the envelope embeds, and the HTTP status it calls for. */
export interface QueryAnswer {
  readonly json: string;
  readonly status: number;
}

/** Where the app's answers come from. */
export interface ApiBackend {
  /** One validated query's answer: `{"data": ...}` or `{"error": "..."}`. */
  query(query: ValidatedQuery): Promise<QueryAnswer>;
  /** The Prometheus exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** A request that failed with a 5xx. */
  logError(error: Error): void;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Most named queries in one request. */
export const MAX_QUERIES_PER_REQUEST = 256;
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

  /** Who sent the request: a token's name, the open API's actor, or undefined (not authorized). */
  const actorOf = (header: string | undefined): string | undefined =>
    options.tokens === undefined ? OPEN_API_ACTOR : tokenHolder(header, options.tokens);
  const authorized = (header: string | undefined): boolean => actorOf(header) !== undefined;

  if (existsSync(WEB_ROOT)) {
    void app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', index: ['index.html'] });
  } else {
    app.get('/', async (_request, reply) =>
      reply.code(404).send({ error: 'the web UI is not built; run "npm run build"' }),
    );
  }

  app.addHook('onRequest', async (request, reply) => {
    const host = hostProblem(request.headers.host, {
      address: options.address,
      allowedHosts: options.allowedHosts,
    });
    if (host !== undefined) return reply.code(403).send({ error: host });
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const crossSite = crossSiteProblem(request.headers);
    if (crossSite !== undefined) return reply.code(403).send({ error: crossSite });
  });

  app.get('/metrics', async (request, reply) => {
    if (options.tokenForReads && !authorized(request.headers.authorization))
      return reply.code(401).send({ error: 'a valid bearer token is required for this request' });
    const { contentType, body } = await backend.metrics();
    return reply.header('content-type', contentType).send(body);
  });

  app.post('/', async (request, reply) => {
    const text = typeof request.body === 'string' ? request.body : '';
    if (nestsDeeperThan(text, MAX_BODY_DEPTH))
      return reply.code(400).send({ error: `request body nests deeper than ${MAX_BODY_DEPTH} levels` });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return reply.code(400).send({ error: `request body is not JSON: ${(error as Error).message}` });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return reply.code(400).send({ error: 'request body must be a JSON object of named queries' });
    }
    const named = Object.entries(body as Record<string, unknown>).filter(([id]) => id !== 'prefs');
    if (named.length > MAX_QUERIES_PER_REQUEST)
      return reply.code(400).send({ error: `more than ${MAX_QUERIES_PER_REQUEST} queries in one request` });
    const mutating = named.some(
      ([, query]) => routeOf((query as { handler?: unknown } | null)?.handler)?.mutating,
    );
    // A browser sends JSON only after a CORS preflight, which this server never grants.
    if (mutating && !isJsonContentType(request.headers['content-type'])) {
      return reply
        .code(415)
        .send({ error: 'a request that changes state must be sent as Content-Type: application/json' });
    }
    const actor = actorOf(request.headers.authorization);
    if ((mutating || options.tokenForReads) && actor === undefined) {
      return reply.code(401).send({ error: 'a valid bearer token is required for this request' });
    }
    const answer = async () => {
      const parts: string[] = [];
      let status = 200;
      for (const [id, query] of named) {
        let result: QueryAnswer;
        try {
          result = await backend.query({ ...validateQuery(query), actor: actor ?? 'anonymous' });
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          result = { json: JSON.stringify({ error: error.message }), status: error.status };
        }
        if (status === 200 && result.status !== 200) status = result.status;
        parts.push(`${JSON.stringify(id)}:${result.json}`);
      }
      return reply
        .code(status)
        .type('application/json; charset=utf-8')
        .send(`{${parts.join(',')}}`);
    };
    return mutating ? answer() : reads.run(answer);
  });
  return app;
}
