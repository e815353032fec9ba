/** `bistro history JOB NODE`: a task's attempts, how each ended, and (with --events) what happened. */
import type { Command } from 'commander';
import type { TaskAttempt } from '../../server/taskHistory.js';
import { query, type ClientOptions } from '../apiClient.js';
import { CliExit, formatTable, formatTime, printJson, printLine } from '../output.js';
import { age, client } from './client.js';

interface HistoryOptions extends ClientOptions {
  limit: string;
  events?: boolean;
}

function ended(attempt: TaskAttempt): string {
  if (attempt.signal) return attempt.signal;
  return attempt.exit_code === null ? '-' : `exit ${attempt.exit_code}`;
}

export function registerHistoryCommand(program: Command): void {
  client(
    program
      .command('history')
      .description(
        "a task's attempts: start, duration, worker, status, exit code or signal, who killed it, last stderr",
      )
      .argument('<job>')
      .argument('<node>')
      .option('--limit <n>', 'the newest N attempts', '20')
      .option('--events', "also print each attempt's events as text"),
  ).action(async (job: string, node: string, options: HistoryOptions) => {
    const limit = Number(options.limit);
    const data = (await query(options, 'task_history', {
      job_id: job,
      node_id: node,
      limit: Number.isInteger(limit) && limit > 0 ? limit : 20,
    })) as { attempts: TaskAttempt[]; truncated: boolean };
    if (options.json) return printJson(data);
    if (data.attempts.length === 0) {
      printLine(`no attempts recorded for ${job} on ${node}`);
      throw new CliExit(1);
    }
    const rows = data.attempts.map((a) => [
      formatTime(a.start, options.utc),
      a.duration_sec === null ? 'running' : age(a.duration_sec),
      a.worker ?? '-',
      a.status ?? 'running',
      ended(a),
      a.killed_by ?? '-',
      a.invocation_id,
    ]);
    printLine(
      formatTable(['START', 'DURATION', 'WORKER', 'STATUS', 'ENDED', 'KILLED BY', 'INVOCATION'], rows),
    );
    for (const attempt of data.attempts) {
      const notes = [
        ...(attempt.message ? [`  message: ${attempt.message}`] : []),
        ...attempt.last_stderr.map((line) => `  stderr: ${line}`),
        ...(options.events ? attempt.events.map((line) => `  ${line}`) : []),
      ];
      if (notes.length === 0) continue;
      printLine(`${attempt.invocation_id}:`);
      for (const note of notes) printLine(note);
    }
    if (data.truncated) printLine('(older events not read: the history shows the newest ones)');
  });
}
