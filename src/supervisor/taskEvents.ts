/**
 * Task events, emitted as structured objects for the task log store. A
 * normal run logs `running`, then `process_exited` and `task_pipes_closed`
 * in either order; the runner adds `got_status` (or `task_failed_to_start`)
 * once it has made the task's status from the result.
 */
export type TaskEventName =
  | 'running'
  | 'process_exited'
  | 'task_pipes_closed'
  | 'task_pipe_error'
  | 'kill_requested'
  | 'signal_sent'
  | 'cgroup_killed'
  | 'cgroups_reaped'
  | 'unkillable'
  | 'oom_killed'
  | 'output_dropped'
  | 'abandoned';

export interface TaskEvent {
  readonly event: TaskEventName;
  readonly invocationId: string;
  /** Epoch milliseconds. */
  readonly time: number;
  readonly [field: string]: unknown;
}
