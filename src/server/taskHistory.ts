/**
 * A task's history, read from its events (the `statuses` task log) and its
 * stderr: one attempt per invocation, with when it ran, where, how it ended
 * (status, exit code or signal, message), who asked it to stop and why, and
 * its last stderr lines; every event rendered as a line of text.
 */
import { statusLabel } from '../statuses/taskStatus.js';
import type { LogLineRow } from '../store/taskLogQueries.js';

/** Stderr lines kept per attempt. */
export const STDERR_TAIL = 5;

export interface TaskAttempt {
  readonly invocation_id: string;
  /** Epoch seconds. */
  readonly start: number;
  readonly end: number | null;
  readonly duration_sec: number | null;
  readonly worker: string | null;
  readonly pid: number | null;
  readonly status: string | null;
  readonly exit_code: number | null;
  readonly signal: string | null;
  readonly message: string | null;
  readonly killed_by: string | null;
  readonly kill_method: string | null;
  readonly last_stderr: string[];
  /** Readable events, oldest first: "<ISO time> <event>: <details>". */
  readonly events: string[];
}

interface Building {
  invocation_id: string;
  start: number;
  end: number | null;
  worker: string | null;
  pid: number | null;
  status: string | null;
  exit_code: number | null;
  signal: string | null;
  message: string | null;
  killed_by: string | null;
  kill_method: string | null;
  last_stderr: string[];
  events: string[];
}

type EventRow = Record<string, unknown> & { event?: unknown; invocation_id?: unknown };

/** Attempts from events and stderr rows (each oldest first), oldest attempt first. */
export function taskHistory(events: readonly LogLineRow[], stderr: readonly LogLineRow[]): TaskAttempt[] {
  const attempts = new Map<string, Building>();
  for (const [, , time, line] of events) {
    let row: EventRow;
    try {
      row = JSON.parse(line) as EventRow;
    } catch {
      continue;
    }
    const id = typeof row.invocation_id === 'string' ? row.invocation_id : undefined;
    if (!id) continue;
    let attempt = attempts.get(id);
    if (!attempt) {
      const started = typeof row['invocation_start_time'] === 'number' ? row['invocation_start_time'] : time;
      attempt = {
        invocation_id: id,
        start: started,
        end: null,
        worker: typeof row['worker_host'] === 'string' ? row['worker_host'] : null,
        pid: null,
        status: null,
        exit_code: null,
        signal: null,
        message: null,
        killed_by: null,
        kill_method: null,
        last_stderr: [],
        events: [],
      };
      attempts.set(id, attempt);
    }
    apply(attempt, row, time);
    attempt.events.push(`${new Date(time * 1000).toISOString()} ${describe(row)}`);
  }
  const ordered = [...attempts.values()].sort((a, b) => a.start - b.start);
  // Stderr lines carry no invocation: an attempt owns those between its start and the next one's.
  for (const [, , time, line] of stderr) {
    let owner: Building | undefined;
    for (const attempt of ordered) if (attempt.start <= time) owner = attempt;
    if (!owner) continue;
    owner.last_stderr.push(line.endsWith('\n') ? line.slice(0, -1) : line);
    if (owner.last_stderr.length > STDERR_TAIL) owner.last_stderr.shift();
  }
  return ordered.map((attempt) => ({
    ...attempt,
    duration_sec: attempt.end === null ? null : Math.max(0, attempt.end - attempt.start),
  }));
}

function apply(attempt: Building, row: EventRow, time: number): void {
  switch (row.event) {
    case 'running':
      if (typeof row['pid'] === 'number') attempt.pid = row['pid'];
      break;
    case 'process_exited':
      attempt.exit_code = typeof row['exit_code'] === 'number' ? row['exit_code'] : null;
      attempt.signal = typeof row['signal'] === 'string' ? row['signal'] : null;
      break;
    case 'kill_requested':
      attempt.killed_by ??= typeof row['reason'] === 'string' ? row['reason'] : 'unknown';
      attempt.kill_method ??= typeof row['method'] === 'string' ? row['method'] : null;
      break;
    case 'got_status':
    case 'task_failed_to_start':
    case 'leftover_killed':
    case 'leftover_gone':
    case 'late_status':
    case 'worker_lost': {
      attempt.end = time;
      const status = row['status'] as { bits?: unknown; data?: { exception?: unknown } } | undefined;
      if (typeof row['final_status'] === 'string') attempt.status = row['final_status'];
      else if (typeof status?.bits === 'number') attempt.status = statusLabel(status.bits);
      if (row.event === 'worker_lost') attempt.status = 'error_backoff';
      const exception = status?.data?.exception ?? row['message'];
      if (typeof exception === 'string') attempt.message = exception;
      else if (row.event === 'worker_lost') attempt.message = 'worker lost';
      break;
    }
  }
}

/** One event as text: its name, then what matters about it. */
function describe(row: EventRow): string {
  const name = String(row.event);
  const details: string[] = [];
  const add = (key: string, label = key) => {
    const value = row[key];
    if (value !== undefined && value !== null && value !== '') details.push(`${label} ${String(value)}`);
  };
  switch (row.event) {
    case 'running':
      add('pid');
      add('worker_host', 'on');
      break;
    case 'process_exited':
      add('message');
      break;
    case 'kill_requested':
      add('method');
      add('reason', 'because');
      break;
    case 'signal_sent':
      add('signal');
      add('target', 'to');
      add('reason', 'because');
      break;
    case 'got_status':
    case 'task_failed_to_start':
    case 'late_status':
    case 'leftover_killed':
    case 'leftover_gone': {
      const status = row['status'] as { bits?: unknown; data?: { exception?: unknown } } | undefined;
      if (typeof status?.bits === 'number') details.push(statusLabel(status.bits));
      if (typeof status?.data?.exception === 'string') details.push(`(${status.data.exception})`);
      add('message');
      break;
    }
    default:
      add('message');
      add('strategy');
      add('reason', 'because');
  }
  return details.length > 0 ? `${name}: ${details.join(' ')}` : name;
}
