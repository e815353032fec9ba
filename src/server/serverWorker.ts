/**
 * The REST API's worker thread: runs the HTTP app (parsing, routing,
 * authorization, serialization, static files) and asks the scheduler's
 * thread for each query's answer. Reads go one at a time (httpApp's read
 * gate), mutations at once; so the scheduler's event loop handles at most
 * one read between two of its own turns, and a burst of requests is parsed
 * here, never in front of a kill request. Messages: see apiServerHost.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildHttpApp, type HttpOptions, type QueryAnswer } from './httpApp.js';
import type { HostMessage, WorkerMessage } from './apiServerHost.js';

const port = parentPort!;
const options = (workerData as { options: HttpOptions }).options;
/** A call the scheduler's thread has not answered in this long is answered here with a 503. */
const CALL_TIMEOUT_MS = 30_000;
const pending = new Map<number, { resolve: (answer: QueryAnswer) => void; timer: NodeJS.Timeout }>();
let nextId = 0;

const post = (message: WorkerMessage) => port.postMessage(message);

function call(kind: 'query' | 'metrics', query?: string): Promise<QueryAnswer> {
  const id = nextId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve({ json: JSON.stringify({ error: 'the scheduler did not answer in time' }), status: 503 });
    }, CALL_TIMEOUT_MS);
    pending.set(id, { resolve, timer });
    post({ type: 'call', id, kind, query });
  });
}

const app = buildHttpApp(
  {
    query: (query) => call('query', JSON.stringify(query)),
    metrics: async () => {
      const answer = await call('metrics');
      if (answer.status !== 200) throw new Error((JSON.parse(answer.json) as { error: string }).error);
      return JSON.parse(answer.json) as { contentType: string; body: string };
    },
    logError: (error) => post({ type: 'log', message: error.message, stack: error.stack }),
  },
  options,
);

port.on('message', (message: HostMessage) => {
  if (message.type === 'answer') {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    clearTimeout(waiting.timer);
    waiting.resolve({ json: message.answer, status: message.status });
  } else if (message.type === 'close') {
    void app.close().then(() => post({ type: 'closed' }));
  }
});
port.on('messageerror', (error) => post({ type: 'log', message: error.message, stack: error.stack }));

app.listen({ port: options.port, host: options.address }).then(
  () => {
    const address = app.server.address();
    post({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  },
  (error: NodeJS.ErrnoException) => post({ type: 'listen-error', code: error.code, message: error.message }),
);
