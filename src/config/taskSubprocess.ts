/**
 * `task_subprocess`: how each task process is
 * started and contained. A job's object applies field by field over the
 * settings value; a job's `cgroups` object likewise applies over the
 * inherited one, and its `subsystems` list replaces the inherited list.
 *
 * Containment choice is explicit (docs/supervision.md):
 *   - `cgroups` absent             -> auto: cgroup v2 if the scheduler can create cgroups, else none;
 *   - `"version": "v2"`            -> cgroup v2 (unified hierarchy);
 *   - non-empty `subsystems`       -> cgroup v1 in those controllers (Bistro's format);
 *   - `{"subsystems": []}` (or {}) -> none.
 */
import { z } from 'zod';
import type { ObjectReader } from './reader.js';
import {
  boolean,
  integer,
  controlCharacterIn,
  nonNegativeInteger,
  nonNegativeNumber,
  signalNumber,
} from './values.js';

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

/**
 * Task cgroups are created (as root) under `root`/`slice`: a path that
 * climbs out with `..` or points elsewhere would make the scheduler create
 * directories and write control files outside cgroupfs.
 */
const cgroupRoot = z
  .string()
  .refine(
    (root) => root === '' || (/^\/sys\/fs\/cgroup(\/[^/]+)*\/?$/.test(root) && !hasDotSegment(root)),
    'must be "" (detect) or a cgroup mount under /sys/fs/cgroup, without "." or ".." segments',
  )
  .describe('a cgroup mount point under /sys/fs/cgroup');
const cgroupSlice = z
  .string()
  .refine(
    (slice) =>
      /^[^/]*(\/[^/]+)*$/.test(slice) && !hasDotSegment(slice) && controlCharacterIn(slice) === undefined,
    'must be a relative cgroup path of plain names, without "." or ".." segments or control characters',
  )
  .describe('a relative cgroup path');

function hasDotSegment(path: string): boolean {
  return path.split('/').some((segment) => segment === '.' || segment === '..');
}

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
  reader.inert({
    refresh_resources_sec: "task usage is read from the task's cgroup whenever it is asked for",
  });
  reader.finish();
  return options;
}

function readCgroups(parent: ObjectReader, inherited: CgroupOptions | undefined): CgroupOptions | undefined {
  const reader = parent.object('cgroups');
  if (!reader) return inherited;
  const base = inherited ?? DEFAULT_CGROUP_OPTIONS;
  const cgroups: CgroupOptions = {
    root: reader.optional('root', cgroupRoot, base.root),
    slice: reader.optional('slice', cgroupSlice, base.slice),
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
  reader.inert({
    cpu_shares: 'CPU weight comes from the job\'s physical resources (settings "physical_resources")',
    memory_limit_in_bytes:
      'the memory limit comes from the job\'s physical resources (settings "physical_resources")',
    unit_test_create_files: "it only served the original's unit tests",
  });
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
