/** Starts the REST API for the daemon: reads the token, starts the worker thread, says how it is reachable. */
import { readFileSync } from 'node:fs';
import type { Logger } from '../logging/logger.js';
import type { ApiContext } from '../server/apiContext.js';
import { ApiError } from '../server/apiErrors.js';
import { ApiServerHost } from '../server/apiServerHost.js';
import { parseApiTokens, type ApiToken } from '../server/apiTokens.js';
import type { SchedulerMetrics } from '../server/metrics.js';
import { isLoopbackAddress } from '../server/requestGuard.js';

export interface HttpOptions {
  readonly port: number;
  readonly address: string;
  readonly tokenFile?: string;
  readonly tokenForReads?: boolean;
  readonly allowCommand?: boolean;
  /** Host names the Host header may carry besides the bound address. */
  readonly allowedHosts?: readonly string[];
}

export async function startApiServer(
  http: HttpOptions,
  context: ApiContext,
  metrics: SchedulerMetrics,
  logger: Logger,
): Promise<ApiServerHost> {
  const tokens = http.tokenFile ? apiTokensFrom(http.tokenFile) : undefined;
  // In a worker thread: a burst of HTTP requests is parsed there, never in front of a kill.
  const server = await ApiServerHost.start(
    context,
    metrics,
    {
      port: http.port,
      address: http.address,
      tokens,
      tokenForReads: http.tokenForReads,
      allowedHosts: http.allowedHosts,
    },
    logger,
  );
  logger.info(
    {
      address: http.address,
      port: server.port,
      auth: tokens ? `bearer token for mutations (${tokens.map((entry) => entry.name).join(', ')})` : 'none',
    },
    'REST API listening',
  );
  if (!tokens && !isLoopbackAddress(http.address)) {
    logger.warn(
      { address: http.address },
      'the REST API listens beyond this host without a token: anyone who can reach it can kill tasks and change jobs (use --api-token-file)',
    );
  }
  return server;
}

function apiTokensFrom(file: string): ApiToken[] {
  try {
    return parseApiTokens(readFileSync(file, 'utf8'), file);
  } catch (error) {
    throw new ApiError((error as Error).message);
  }
}
