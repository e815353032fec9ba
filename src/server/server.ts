/**
 * The REST API in this thread: the HTTP app (httpApp.ts) answering from the
 * scheduler's state directly. The daemon runs the same app in a worker
 * instead (apiServerHost.ts); this form serves embedding and tests.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logging/logger.js';
import type { ApiContext } from './apiContext.js';
import { buildHttpApp, type HttpOptions } from './httpApp.js';
import type { SchedulerMetrics } from './metrics.js';
import { runQueryToJson } from './queryRunner.js';

export interface ServerOptions extends HttpOptions {
  readonly logger: Logger;
}

export function buildServer(
  context: ApiContext,
  metrics: SchedulerMetrics,
  options: ServerOptions,
): FastifyInstance {
  return buildHttpApp(
    {
      query: (query) => runQueryToJson(query, context),
      metrics: async () => ({
        contentType: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      }),
      logError: (error) => options.logger.error({ err: error }, 'API request failed'),
    },
    options,
  );
}
