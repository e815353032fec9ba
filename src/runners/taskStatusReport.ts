/**
 * The status a finished task gets, from what the supervisor observed: the
 * task's own report on its status pipe, or, without one, a status the
 * scheduler makes (docs/task-protocol.md, "Statuses the scheduler makes
 * itself"). OOM kills seen by its memory cgroup are added to the data.
 */
import { constants as osConstants } from 'node:os';
import { parseStatusReport, type StatusReport } from '../statuses/parseStatus.js';
import { StatusBits as B, Synthesized } from '../statuses/taskStatus.js';
import type { TaskResult } from '../supervisor/taskSpec.js';

export function taskStatusReport(result: TaskResult): StatusReport {
  return withOomKills(ownOrSynthesized(result), result.oomKills);
}

function ownOrSynthesized(result: TaskResult): StatusReport {
  const { exitCode, exitSignal } = result;
  if (result.launchFailure) {
    const { step, errno, message } = result.launchFailure;
    return {
      bits: B.ERROR | B.USES_BACKOFF,
      data: {
        exception: `Failed to start task ${result.invocationId}: ${step}: ${message} (errno ${errno})`,
      },
    };
  }
  if (result.statusLine !== undefined && result.statusLine !== '')
    return parseStatusReport(result.statusLine);
  if (result.abandonedReason !== undefined) {
    return {
      bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
      data: { exception: result.abandonedReason, exit_code: exitCode, signal: exitSignal },
    };
  }
  if (result.killed) {
    return {
      bits: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
      data: { exception: Synthesized.noStatusAfterKill, exit_code: exitCode, signal: exitSignal },
    };
  }
  if (exitSignal) {
    return {
      bits: B.ERROR | B.USES_BACKOFF,
      data: {
        exception: `Task was killed by an outside signal ${osConstants.signals[exitSignal]} (${exitSignal}), not by a kill request`,
        exit_code: null,
        signal: exitSignal,
      },
    };
  }
  return {
    bits: B.ERROR | B.USES_BACKOFF,
    data: {
      exception: `${Synthesized.noStatusAfterExit} (exited with status ${exitCode})`,
      exit_code: exitCode,
      signal: null,
    },
  };
}

function withOomKills(report: StatusReport, oomKills: TaskResult['oomKills']): StatusReport {
  if (!oomKills) return report;
  const data =
    report.data !== null && typeof report.data === 'object' && !Array.isArray(report.data)
      ? report.data
      : report.data === undefined
        ? {}
        : { task_data: report.data };
  return {
    ...report,
    data: {
      ...data,
      oom_killed: true,
      oom_kills: oomKills.count,
      memory_limit_bytes: oomKills.memoryLimitBytes ?? null,
    },
  };
}
