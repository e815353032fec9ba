/**
 * What a worker reports it can give its tasks: CPU cores and RAM, the
 * smaller of the machine's and its own cgroup's limits (cgroup v2
 * `cpu.max`/`memory.max`, v1 `cpu.cfs_quota_us`/`memory.limit_in_bytes`),
 * looking at every ancestor of its cgroup, since a parent's limit binds too.
 */
import { availableParallelism, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UsableResources {
  readonly cpu_cores: number;
  readonly ram_mb: number;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Each hierarchy's path of this process: v1 by controller, v2 under "". */
function ownCgroups(procFile = '/proc/self/cgroup'): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of (read(procFile) ?? '').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of match[1]!.split(',')) paths.set(controller, match[2]!);
  }
  return paths;
}

/** `dir` and its ancestors up to `root`. */
function ancestors(root: string, path: string): string[] {
  const parts = path.split('/').filter((part) => part !== '');
  const out: string[] = [];
  for (let i = parts.length; i >= 0; i--) out.push(join(root, ...parts.slice(0, i)));
  return out;
}

function v2Dirs(paths: Map<string, string>): string[] {
  const path = paths.get('');
  if (path === undefined) return [];
  // A hybrid host mounts v2 at /sys/fs/cgroup/unified; a v2-only host at /sys/fs/cgroup.
  const root =
    read(join(CGROUP_ROOT, 'unified', 'cgroup.controllers')) !== undefined
      ? join(CGROUP_ROOT, 'unified')
      : CGROUP_ROOT;
  return ancestors(root, path);
}

function cpuLimit(paths: Map<string, string>): number {
  let limit = Infinity;
  for (const dir of v2Dirs(paths)) {
    const [quota, period] = (read(join(dir, 'cpu.max')) ?? 'max').split(/\s+/);
    if (quota !== 'max' && Number(period) > 0) limit = Math.min(limit, Number(quota) / Number(period));
  }
  const v1 = paths.get('cpu');
  if (v1 !== undefined)
    for (const dir of ancestors(join(CGROUP_ROOT, 'cpu'), v1)) {
      const quota = Number(read(join(dir, 'cpu.cfs_quota_us')) ?? -1);
      const period = Number(read(join(dir, 'cpu.cfs_period_us')) ?? 0);
      if (quota > 0 && period > 0) limit = Math.min(limit, quota / period);
    }
  return limit;
}

function memoryLimitBytes(paths: Map<string, string>): number {
  let limit = Infinity;
  for (const dir of v2Dirs(paths)) {
    const value = read(join(dir, 'memory.max'));
    if (value !== undefined && value !== 'max') limit = Math.min(limit, Number(value));
  }
  const v1 = paths.get('memory');
  if (v1 !== undefined)
    for (const dir of ancestors(join(CGROUP_ROOT, 'memory'), v1)) {
      const value = Number(read(join(dir, 'memory.limit_in_bytes')) ?? NaN);
      // v1 says "no limit" with a huge page-rounded number.
      if (Number.isFinite(value) && value > 0 && value < 2 ** 60) limit = Math.min(limit, value);
    }
  return limit;
}

export function usableResources(): UsableResources {
  const paths = ownCgroups();
  const cores = Math.min(availableParallelism(), cpuLimit(paths));
  const bytes = Math.min(totalmem(), memoryLimitBytes(paths));
  return { cpu_cores: Math.round(cores * 100) / 100, ram_mb: Math.floor(bytes / (1024 * 1024)) };
}
