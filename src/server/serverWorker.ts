/**
 * The REST API's worker thread: runs the HTTP app (parsing, routing,
 * authorization, serialization, static files) and asks the scheduler's
 * thread for each query's answer. Reads go one at a time (httpApp's read
 * gate), mutations at once; so the scheduler's event loop handles at most
 * one read between two of its own turns, and a burst of requests is parsed
 * here, never in front of a kill request. Messages: see apiServerHost.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildHttpApp, type HttpOptions } from './httpApp.js';
import type { HostMessage, WorkerMessage } from './apiServerHost.js';

const port = parentPort!;
const options = (workerData as { options: HttpOptions }).options;
const pending = new Map<number, (answer: string) => void>();
let nextId = 0;

const post = (message: WorkerMessage) => port.postMessage(message);

function call(kind: 'query' | 'metrics', query?: unknown): Promise<string> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    post({ type: 'call', id, kind, query });
  });
}

const app = buildHttpApp(
  {
    query: (query) => call('query', query),
    metrics: async () => JSON.parse(await call('metrics')) as { contentType: string; body: string },
    logError: (error) => post({ type: 'log', message: error.message, stack: error.stack }),
  },
  options,
);

port.on('message', (message: HostMessage) => {
  if (message.type === 'answer') {
    const resolve = pending.get(message.id);
    pending.delete(message.id);
    resolve?.(message.answer);
  } else if (message.type === 'close') {
    void app.close().then(() => post({ type: 'closed' }));
  }
});

app.listen({ port: options.port, host: options.address }).then(
  () => {
    const address = app.server.address();
    post({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  },
  (error: NodeJS.ErrnoException) => post({ type: 'listen-error', code: error.code, message: error.message }),
);
