/**
 * `task_subprocess` (SPEC §5.1, reference §2.9): how each task process is
 * started and contained. A job's object applies field by field over the
 * settings value; a job's `cgroups` object likewise applies over the
 * inherited one, and its `subsystems` list replaces the inherited list.
 *
 * Containment choice is explicit (SPEC §5.5):
 *   - `cgroups` absent             -> auto: cgroup v2 if the scheduler can create cgroups, else none;
 *   - `"version": "v2"`            -> cgroup v2 (unified hierarchy);
 *   - non-empty `subsystems`       -> cgroup v1 in those controllers (Bistro's format);
 *   - `{"subsystems": []}` (or {}) -> none.
 */
import { z } from 'zod';
import type { ObjectReader } from './reader.js';
import { boolean, integer, nonNegativeInteger, nonNegativeNumber, signalNumber, string } from './values.js';

export const CGROUP_VERSIONS = ['v1', 'v2'] as const;
export type CgroupVersion = (typeof CGROUP_VERSIONS)[number];

export interface CgroupOptions {
  /** Mount point of the hierarchy; "" = detect (v1: /sys/fs/cgroup, v2: the unified mount). */
  readonly root: string;
  /** Parent cgroup of all task cgroups; "" = "bistro.slice". */
  readonly slice: string;
  /** v1: controllers to create a task cgroup in; v2: controllers to enable for task cgroups. */
  readonly subsystems: readonly string[];
  readonly killWithoutFreezer: boolean;
  /** Explicit hierarchy; undefined = v1 when `subsystems` is non-empty, else none. */
  readonly version: CgroupVersion | undefined;
  /** Processes surviving SIGKILL this long make the task "unkillable". */
  readonly unkillableTimeoutSec: number;
  /** `pids.max` for each task cgroup; 0 = no limit. */
  readonly pidsMax: number;
}

export interface TaskSubprocessOptions {
  readonly pollMs: number;
  readonly maxLogLinesPerPollInterval: number;
  readonly parentDeathSignal: number;
  readonly processGroupLeader: boolean;
  readonly useCanaryPipe: boolean;
  /** undefined = key absent = auto-detect containment. */
  readonly cgroups: CgroupOptions | undefined;
  readonly pidNamespace: boolean;
}

export const DEFAULT_CGROUP_OPTIONS: CgroupOptions = {
  root: '',
  slice: '',
  subsystems: [],
  killWithoutFreezer: false,
  version: undefined,
  unkillableTimeoutSec: 60,
  pidsMax: 0,
};

export const DEFAULT_TASK_SUBPROCESS: TaskSubprocessOptions = {
  pollMs: 10,
  maxLogLinesPerPollInterval: 50,
  parentDeathSignal: 9,
  processGroupLeader: true,
  useCanaryPipe: true,
  cgroups: undefined,
  pidNamespace: false,
};

/** The defaults with containment turned off explicitly (`"cgroups": {"subsystems": []}`). */
export const TASK_SUBPROCESS_WITHOUT_CGROUPS: TaskSubprocessOptions = {
  ...DEFAULT_TASK_SUBPROCESS,
  cgroups: DEFAULT_CGROUP_OPTIONS,
};

const cgroupVersion = z.enum(CGROUP_VERSIONS).describe('"v1" or "v2"');
const subsystemList = z
  .array(z.string().regex(/^[a-z_]+$/))
  .describe('an array of cgroup controller names such as "memory"');

/** Reads `task_subprocess` from `parent`, field by field over `inherited`. */
export function readTaskSubprocess(
  parent: ObjectReader,
  inherited: TaskSubprocessOptions,
): TaskSubprocessOptions {
  const reader = parent.object('task_subprocess');
  if (!reader) return inherited;
  const pollMs = reader.optional('poll_ms', integer, inherited.pollMs);
  const options: TaskSubprocessOptions = {
    // Bistro treats values below 1 as 1.
    pollMs: Math.max(1, pollMs),
    maxLogLinesPerPollInterval: reader.optional(
      'max_log_lines_per_poll_interval',
      integer,
      inherited.maxLogLinesPerPollInterval,
    ),
    parentDeathSignal: reader.optional('parent_death_signal', signalNumber, inherited.parentDeathSignal),
    processGroupLeader: reader.optional('process_group_leader', boolean, inherited.processGroupLeader),
    useCanaryPipe: reader.optional('use_canary_pipe', boolean, inherited.useCanaryPipe),
    cgroups: readCgroups(reader, inherited.cgroups),
    pidNamespace: reader.optional('pid_namespace', boolean, inherited.pidNamespace),
  };
  reader.finish();
  return options;
}

function readCgroups(parent: ObjectReader, inherited: CgroupOptions | undefined): CgroupOptions | undefined {
  const reader = parent.object('cgroups');
  if (!reader) return inherited;
  const base = inherited ?? DEFAULT_CGROUP_OPTIONS;
  const cgroups: CgroupOptions = {
    root: reader.optional('root', string, base.root),
    slice: reader.optional(
      'slice',
      z
        .string()
        .regex(/^[^/]*(\/[^/]+)*$/)
        .describe('a relative cgroup path'),
      base.slice,
    ),
    subsystems: reader.optional('subsystems', subsystemList, base.subsystems),
    killWithoutFreezer: reader.optional('kill_without_freezer', boolean, base.killWithoutFreezer),
    version: reader.optional('version', cgroupVersion, base.version),
    unkillableTimeoutSec: reader.optional(
      'unkillable_timeout_sec',
      nonNegativeNumber,
      base.unkillableTimeoutSec,
    ),
    pidsMax: reader.optional('pids_max', nonNegativeInteger, base.pidsMax),
  };
  reader.finish();
  return cgroups;
}

export function serializeTaskSubprocess(options: TaskSubprocessOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {
    poll_ms: options.pollMs,
    max_log_lines_per_poll_interval: options.maxLogLinesPerPollInterval,
    parent_death_signal: options.parentDeathSignal,
    process_group_leader: options.processGroupLeader,
    use_canary_pipe: options.useCanaryPipe,
    pid_namespace: options.pidNamespace,
  };
  if (options.cgroups) out.cgroups = serializeCgroups(options.cgroups);
  return out;
}

function serializeCgroups(cgroups: CgroupOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {
    root: cgroups.root,
    slice: cgroups.slice,
    subsystems: [...cgroups.subsystems],
    kill_without_freezer: cgroups.killWithoutFreezer,
    unkillable_timeout_sec: cgroups.unkillableTimeoutSec,
    pids_max: cgroups.pidsMax,
  };
  if (cgroups.version !== undefined) out.version = cgroups.version;
  return out;
}
