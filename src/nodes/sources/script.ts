/**
 * `script` source: for each node at `parent_level`, runs the
 * executable directly (no shell) with the parent's name as its only argument
 * and adds one child per non-empty stdout line.
 *
 * Deliberate changes from the original, for production safety: the script
 * has a timeout (`timeout_ms`, default 60000), and a non-zero exit, a signal
 * or a timeout fails the refresh, so a script that dies halfway cannot shrink
 * the node list and turn running tasks into orphans.
 */
import { execFile } from 'node:child_process';
import { z } from 'zod';
import { positiveInteger } from '../../config/values.js';
import { NodeSourceError, PAUSE_EVERY_NODES, readParentLevel, type NodeSourceCompiler } from './source.js';

const scriptPath = z.string().min(1).describe('the path of an executable');
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

export const compileScript: NodeSourceCompiler = (prefs, settings) => {
  const parentLevel = readParentLevel(prefs, settings);
  const script = prefs.required('script', scriptPath, '');
  const timeoutMs = prefs.optional('timeout_ms', positiveInteger, 0);
  prefs.finish();
  return {
    name: 'script',
    async run(builder, context) {
      const limit = timeoutMs > 0 ? timeoutMs : context.scriptTimeoutMs;
      for (const parent of builder.nodesAtLevel(parentLevel)) {
        const parentName = builder.nameOf(parent);
        const output = await runScript(script, parentName, limit);
        let added = 0;
        for (const line of output.split('\n')) {
          if (line === '') continue;
          builder.add({ name: line, level: parentLevel + 1, parent, enabled: true });
          if (++added % PAUSE_EVERY_NODES === 0) await context.pause();
        }
      }
    },
  };
};

function runScript(script: string, parentName: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      script,
      [parentName],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (error, stdout) => {
        if (!error) return resolve(stdout);
        const failure = error as NodeJS.ErrnoException & {
          killed?: boolean;
          signal?: string | null;
          code?: unknown;
        };
        let reason: string;
        if (failure.killed && failure.signal === 'SIGKILL') reason = `timed out after ${timeoutMs} ms`;
        else if (typeof failure.code === 'string')
          reason = `could not run it (${failure.code}: ${failure.message})`;
        else if (failure.signal) reason = `killed by ${failure.signal}`;
        else reason = `exited with status ${String(failure.code)}`;
        reject(new NodeSourceError('script', `${script} ${JSON.stringify(parentName)}: ${reason}`));
      },
    );
  });
}
