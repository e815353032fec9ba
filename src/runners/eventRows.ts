/**
 * Task events as rows of the `statuses` log, in the original's shape and
 * ours side by side: `invocation_start_time` and `invocation_rand` next to
 * our `invocation_id`, and a status's `result_bits` next to `bits`, so the
 * original's tools parse them.
 *
 * A long command (think a 3 MB argv) is written in full once per job and
 * command; later `running` events carry its digest, size and the task's own
 * arguments instead, so retries cannot fill the log with copies.
 */
import { createHash } from 'node:crypto';
import type { RunningTask } from '../statuses/runningTask.js';

/** Commands up to this many bytes of JSON are always written in full. */
export const FULL_COMMAND_BYTES = 4096;
/** The node, the status pipe and the JSON argument follow the job's command. */
const PROTOCOL_ARGUMENTS = 3;

/** A 31-bit number derived from the invocation id: the original's `invocation_rand`. */
export function invocationRand(invocationId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < invocationId.length; i++) {
    hash ^= invocationId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 1;
}

function withResultBits(status: unknown): unknown {
  if (status === null || typeof status !== 'object' || !('bits' in status)) return status;
  return { result_bits: (status as { bits: unknown }).bits, ...status };
}

export class EventRows {
  /** Per job: the digest of the long command last written in full. */
  private readonly writtenCommands = new Map<string, string>();

  /** The JSON row for one event of `task`. */
  row(task: RunningTask, fields: Readonly<Record<string, unknown>>, workerHost: string): string {
    const row: Record<string, unknown> = {
      ...fields,
      invocation_id: task.invocationId,
      invocation_start_time: Math.floor(task.startTime),
      invocation_rand: invocationRand(task.invocationId),
      worker_host: workerHost,
    };
    if ('status' in row) row['status'] = withResultBits(row['status']);
    if (Array.isArray(row['command'])) Object.assign(row, this.command(task.job, row['command']));
    return JSON.stringify(row);
  }

  private command(job: string, command: readonly unknown[]): Record<string, unknown> {
    const text = JSON.stringify(command);
    if (text.length <= FULL_COMMAND_BYTES) return {};
    // The job's own command, without the three per-task protocol arguments.
    const own = command.slice(0, Math.max(0, command.length - PROTOCOL_ARGUMENTS));
    const digest = createHash('sha256').update(JSON.stringify(own)).digest('hex');
    if (this.writtenCommands.get(job) !== digest) {
      this.writtenCommands.set(job, digest);
      return { command_sha256: digest };
    }
    const taskArguments = command.slice(own.length);
    return {
      command: undefined,
      command_sha256: digest,
      command_bytes: text.length,
      ...(JSON.stringify(taskArguments).length <= FULL_COMMAND_BYTES
        ? { task_arguments: taskArguments }
        : {}),
      message:
        'the command is the job\'s command from its earlier "running" event with this command_sha256, then task_arguments',
    };
  }
}
