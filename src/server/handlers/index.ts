/** Every REST handler's implementation by its Bistro name; routes.ts holds their schemas. */
import type { Handler } from '../apiContext.js';
import type { RouteName } from '../routes.js';
import { deleteJob } from './deleteJob.js';
import { errors } from './errors.js';
import { forgiveJobs } from './forgiveJobs.js';
import { histogram } from './histogram.js';
import { jobNodeStatuses } from './jobNodeStatuses.js';
import { jobs } from './jobs.js';
import { killTask } from './killTask.js';
import { nodes } from './nodes.js';
import { refreshTime } from './refreshTime.js';
import { leader } from './leader.js';
import { jobNodeRuntime, runningTasks } from './runningTasks.js';
import { saveJob } from './saveJob.js';
import { saveSettings } from './saveSettings.js';
import { sortedNodeNames } from './sortedNodeNames.js';
import { taskLogs } from './taskLogs.js';
import { taskHistoryHandler } from './taskHistory.js';
import { jobGrid } from './jobGrid.js';
import { workers } from './workers.js';

export const HANDLERS: { readonly [N in RouteName]: Handler<N> } = {
  errors,
  refresh_time: refreshTime,
  leader,
  workers,
  jobs,
  sorted_node_names: sortedNodeNames,
  nodes,
  running_tasks: runningTasks,
  job_node_runtime: jobNodeRuntime,
  histogram,
  task_logs: taskLogs,
  task_history: taskHistoryHandler,
  job_grid: jobGrid,
  forgive_jobs: forgiveJobs,
  kill_task: killTask,
  save_job: saveJob,
  delete_job: deleteJob,
  save_settings: saveSettings,
  job_node_statuses: jobNodeStatuses,
};
