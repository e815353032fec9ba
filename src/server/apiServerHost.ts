/**
 * Runs the REST API in a worker thread (serverWorker.ts) and answers its
 * queries here, in the scheduler's thread, against the scheduler's state.
 * HTTP parsing and serialization of a burst of requests then cost the
 * scheduler nothing: its event loop sees one message per query, reads one
 * at a time.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logging/logger.js';
import type { ApiContext } from './apiContext.js';
import type { HttpOptions } from './httpApp.js';
import type { SchedulerMetrics } from './metrics.js';
import { runQuery, type QueryResult } from './queryRunner.js';
import type { ValidatedQuery } from './routes.js';

/** Worker → scheduler thread. */
export type WorkerMessage =
  /** A validated query crosses as JSON text: a string always crosses, whatever it holds. */
  | { type: 'call'; id: number; kind: 'query' | 'metrics'; query?: string }
  | { type: 'listening'; port: number }
  | { type: 'listen-error'; code: string | undefined; message: string }
  | { type: 'log'; message: string; stack: string | undefined }
  | { type: 'closed' };

/** Scheduler thread → worker. */
export type HostMessage = { type: 'answer'; id: number; answer: string; status: number } | { type: 'close' };

/** A listen failure, with the errno code the CLI reports (EADDRINUSE, ...). */
export class ApiListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ApiListenError';
  }
}

// The same module runs from src/ (tsx, in tests) and dist/.
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './serverWorker.ts' : './serverWorker.js',
  import.meta.url,
);

export class ApiServerHost {
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly port: number,
  ) {}

  /** Starts the worker and waits until it listens; throws ApiListenError if it cannot. */
  static start(
    context: ApiContext,
    metrics: SchedulerMetrics,
    options: HttpOptions,
    logger: Logger,
  ): Promise<ApiServerHost> {
    const worker = new Worker(WORKER_URL, { workerData: { options } });
    const send = (message: HostMessage) => worker.postMessage(message);
    return new Promise((resolve, reject) => {
      worker.on('message', (message: WorkerMessage) => {
        switch (message.type) {
          case 'call':
            answerCall(message, context, metrics).then(
              ({ answer, status }) => send({ type: 'answer', id: message.id, answer, status }),
              (error: Error) => {
                logger.error({ err: error }, 'an API call failed');
                send({
                  type: 'answer',
                  id: message.id,
                  answer: JSON.stringify({ error: `internal error: ${error.message}` }),
                  status: 500,
                });
              },
            );
            break;
          case 'listening':
            resolve(new ApiServerHost(worker, message.port));
            break;
          case 'listen-error':
            void worker.terminate();
            reject(new ApiListenError(message.message, message.code));
            break;
          case 'log':
            logger.error({ err: { message: message.message, stack: message.stack } }, 'API request failed');
            break;
          case 'closed':
            break;
        }
      });
      // A message that cannot be deserialized names no call; the worker's own timeout answers it.
      worker.on('messageerror', (error) => logger.error({ err: error }, 'an API message could not be read'));
      worker.once('error', (error) => {
        logger.error({ err: error }, 'the REST API worker failed');
        reject(error);
      });
    });
  }

  /** Stops accepting requests, lets the worker finish, and ends it. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate(), 5000);
      this.worker.on('message', (message: WorkerMessage) => {
        if (message.type !== 'closed') return;
        clearTimeout(timer);
        void this.worker.terminate().then(() => resolve());
      });
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.postMessage({ type: 'close' } satisfies HostMessage);
    });
    return this.closed;
  }
}

async function answerCall(
  message: Extract<WorkerMessage, { type: 'call' }>,
  context: ApiContext,
  metrics: SchedulerMetrics,
): Promise<{ answer: string; status: number }> {
  if (message.kind === 'metrics') {
    const body = await metrics.registry.metrics();
    return { answer: JSON.stringify({ contentType: metrics.registry.contentType, body }), status: 200 };
  }
  const result: QueryResult = await runQuery(JSON.parse(message.query ?? 'null') as ValidatedQuery, context);
  if ('data' in result) return { answer: JSON.stringify({ data: result.data }), status: 200 };
  return { answer: JSON.stringify({ error: result.error }), status: result.status };
}
