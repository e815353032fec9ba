/**
 * Jobs (`bistro_job->NAME`). A job starts as a copy of
 * the inheritable settings, then applies its own keys field by field. A job
 * with problems is kept, marked invalid by its `errors` record, and cannot
 * run; the other jobs are unaffected. Serializing an invalid job drops the
 * failed fields while `errors` keeps their input, so load -> fix -> save
 * cycles lose nothing, and a job that arrives with `errors` stays invalid
 * until a person removes the key.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { serializeBackoff, type BackoffSettings } from './backoff.js';
import { readFilters, serializeFilter, type NodeFilter } from './filters.js';
import { errorRecordFromIssues, describeValue, type ConfigIssue, type ErrorRecord } from './issues.js';
import { serializeKillDelay, type KillDelaySec } from './killDelay.js';
import { readKillRequest, serializeKillRequest, type KillRequest } from './killRequest.js';
import { isPlainObject, newIssueSink, ObjectReader } from './reader.js';
import { readBackoffField, readKillDelayField, readLevelRef, type Settings } from './settings.js';
import { readTaskSubprocess, serializeTaskSubprocess, type TaskSubprocessOptions } from './taskSubprocess.js';
import {
  boolean,
  finiteNumber,
  integer,
  jobNameProblem,
  jsonObject,
  nonNegativeInteger,
  string,
} from './values.js';
import { setOwn } from '../text/ownKeys.js';

export interface Job {
  readonly name: string;
  readonly enabled: boolean;
  readonly owner: string;
  /** Executable and leading arguments; empty = the scheduler's `--worker-command`. */
  readonly command: readonly string[];
  readonly priority: number;
  readonly config: Readonly<Record<string, unknown>>;
  /** Effective amount of every configured resource. */
  readonly resources: Readonly<Record<string, number>>;
  readonly backoff: BackoffSettings;
  /** Non-trivial filters by level name. */
  readonly filters: Readonly<Record<string, NodeFilter>>;
  readonly dependsOn: readonly string[];
  readonly runOnlyAfterAllNodesAreDoneFor: readonly string[];
  readonly levelForTasks: number;
  readonly killOrphanTasksAfterSec: KillDelaySec;
  readonly killTasksExceedingResourcesAfterSec: KillDelaySec;
  readonly taskSubprocess: TaskSubprocessOptions;
  readonly killSubprocess: KillRequest;
  readonly hostPlacement: string;
  readonly levelForHostPlacement: number | undefined;
  readonly createTime: number;
  readonly modifyTime: number;
  readonly versionId: number;
  /** Bistro's error record; undefined when the job is valid. */
  readonly errors: ErrorRecord | undefined;
  /** The problems, with paths relative to the job object. */
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/** A job may start tasks only when enabled and valid. */
export function jobCanRun(job: Job): boolean {
  return job.enabled && job.errors === undefined;
}

// Any number, as in the original: ranked_priority orders by it; randomized_priority weighs by max(0, p).
const priority = finiteNumber;
const jobNameList = z.array(z.string()).describe('an array of job names');
const commandSchema = z.array(z.string()).describe('an array of strings (executable, then arguments)');

export function parseJob(name: string, input: unknown, settings: Settings): Job {
  const sink = newIssueSink();
  const object = isPlainObject(input) ? input : {};
  const reader = new ObjectReader(object, [], sink);
  const nameProblem = jobNameProblem(name);
  if (nameProblem) sink.errors.push({ path: [], message: nameProblem, kind: 'invalid', value: input });

  const previousErrors = reader.raw('errors');
  const hasPreviousErrors =
    previousErrors !== undefined &&
    !(isPlainObject(previousErrors) && Object.keys(previousErrors).length === 0);
  if (hasPreviousErrors) {
    sink.errors.push({
      path: ['errors'],
      message: 'Pre-existing errors',
      kind: 'invalid',
      value: previousErrors,
    });
  }

  const levels = settings.levels;
  const hostLevel = reader.has('level_for_host_placement')
    ? readLevelRef(reader, 'level_for_host_placement', levels, -1)
    : (reader.accept('level_for_host_placement'), -1);

  const job: Omit<Job, 'errors' | 'issues' | 'warnings'> = {
    name,
    enabled: reader.optional('enabled', boolean, true),
    owner: reader.required('owner', string, ''),
    command: reader.optional('command', commandSchema, []),
    priority: reader.optional('priority', priority, 1),
    config: reader.optional('config', jsonObject, {}),
    resources: readJobResources(reader, settings),
    backoff: readBackoffField(reader, settings.backoff),
    filters: readFilters(reader, levels),
    dependsOn: reader.optional('depends_on', jobNameList, []),
    runOnlyAfterAllNodesAreDoneFor: reader.optional('run_only_after_all_nodes_are_done_for', jobNameList, []),
    levelForTasks: readLevelRef(reader, 'level_for_tasks', levels, settings.levelForTasks),
    killOrphanTasksAfterSec: readKillDelayField(
      reader,
      'kill_orphan_tasks_after_sec',
      settings.killOrphanTasksAfterSec,
    ),
    killTasksExceedingResourcesAfterSec: readKillDelayField(
      reader,
      'kill_tasks_exceeding_resources_after_sec',
      settings.killTasksExceedingResourcesAfterSec,
    ),
    taskSubprocess: readTaskSubprocess(reader, settings.taskSubprocess),
    killSubprocess: readKillRequest(reader, settings.killSubprocess),
    hostPlacement: reader.optional('host_placement', string, ''),
    levelForHostPlacement: hostLevel >= 0 ? hostLevel : undefined,
    createTime: reader.optional('create_time', nonNegativeInteger, 0),
    modifyTime: reader.optional('modify_time', nonNegativeInteger, 0),
    versionId: reader.optional('version_id', integer, -1),
  };
  if (!isPlainObject(input)) {
    sink.errors.push({
      path: [],
      message: `expected a job object, received ${describeValue(input)}`,
      kind: 'invalid',
      value: input,
    });
  }
  reader.finish();
  return {
    ...job,
    errors: errorsFor(sink.errors, object, hasPreviousErrors ? previousErrors : undefined),
    issues: sink.errors,
    warnings: sink.warnings,
  };
}

function readJobResources(reader: ObjectReader, settings: Settings): Record<string, number> {
  const effective: Record<string, number> = {};
  for (const resource of settings.resources) setOwn(effective, resource.name, resource.defaultAmount);
  const overrides = reader.object('resources');
  if (!overrides) return effective;
  for (const name of Object.keys(overrides.input)) {
    if (!Object.hasOwn(effective, name)) {
      overrides.invalid(
        [name],
        `unknown resource; configured resources are ${Object.keys(effective).join(', ') || '(none)'}`,
        overrides.input[name],
      );
      overrides.accept(name);
      continue;
    }
    setOwn(effective, name, overrides.optional(name, nonNegativeInteger, effective[name]!));
  }
  return effective;
}

/**
 * The job's `errors` record. When the only news is the job's own
 * pre-existing record (plus problems that record already holds), it is kept
 * as it was, so a load -> save cycle neither loses nor grows it.
 */
function errorsFor(
  issues: readonly ConfigIssue[],
  input: Record<string, unknown>,
  previous: unknown,
): ErrorRecord | undefined {
  if (issues.length === 0) return undefined;
  if (previous !== undefined && isPlainObject(previous)) {
    const others = issues.filter((issue) => !(issue.path.length === 1 && issue.path[0] === 'errors'));
    if (others.length === 0 || isContainedIn(errorRecordFromIssues(others, input), previous)) {
      return previous as ErrorRecord;
    }
  }
  return errorRecordFromIssues(issues, input);
}

/** True if every message in `record` also stands at the same place in `container`. */
function isContainedIn(record: ErrorRecord, container: Record<string, unknown>): boolean {
  if (record.error !== undefined && container['error'] !== record.error) return false;
  for (const [key, message] of Object.entries(record.key_errors ?? {})) {
    const errors = container['key_errors'];
    if (!isPlainObject(errors) || errors[key] !== message) return false;
  }
  for (const [key, nested] of Object.entries(record.nested ?? {})) {
    const containerNested = container['nested'];
    if (!isPlainObject(containerNested)) return false;
    const child = containerNested[key];
    if (!isPlainObject(child) || !isContainedIn(nested, child)) return false;
    if (nested.error !== undefined && !isDeepStrictEqual(child['value'], nested.value)) return false;
  }
  return true;
}

/** The job as the `jobs` API returns it. */
export function serializeJob(job: Job, settings: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {
    enabled: job.enabled,
    owner: job.owner,
    level_for_tasks: settings.levels[job.levelForTasks],
    priority: job.priority,
    config: job.config,
    backoff: serializeBackoff(job.backoff),
    kill_orphan_tasks_after_sec: serializeKillDelay(job.killOrphanTasksAfterSec),
    task_subprocess: serializeTaskSubprocess(job.taskSubprocess),
    kill_subprocess: serializeKillRequest(job.killSubprocess),
    kill_tasks_exceeding_resources_after_sec: serializeKillDelay(job.killTasksExceedingResourcesAfterSec),
  };
  if (settings.resources.length > 0) out.resources = { ...job.resources };
  const filters = Object.entries(job.filters);
  if (filters.length > 0)
    out.filters = Object.fromEntries(filters.map(([level, f]) => [level, serializeFilter(f)]));
  if (job.levelForHostPlacement !== undefined)
    out.level_for_host_placement = settings.levels[job.levelForHostPlacement];
  if (job.hostPlacement !== '') out.host_placement = job.hostPlacement;
  if (job.dependsOn.length > 0) out.depends_on = [...job.dependsOn];
  if (job.runOnlyAfterAllNodesAreDoneFor.length > 0) {
    out.run_only_after_all_nodes_are_done_for = [...job.runOnlyAfterAllNodesAreDoneFor];
  }
  if (job.createTime > 0) out.create_time = job.createTime;
  if (job.modifyTime > 0) out.modify_time = job.modifyTime;
  if (job.command.length > 0) out.command = [...job.command];
  if (job.versionId >= 0) out.version_id = job.versionId;
  if (job.errors !== undefined) out.errors = job.errors;
  return out;
}
