/**
 * Resource limits for a task's cgroups: a hard memory limit and
 * a soft CPU weight from `physical_resources` mappings of the job's logical
 * resources, and `pids.max` from `cgroups.pids_max`.
 */
import type { PhysicalResources } from '../../config/physicalResources.js';

export interface CgroupLimits {
  readonly memoryBytes?: number;
  /** CPU cores' worth of weight (soft): v1 cpu.shares = 1024 per core, v2 cpu.weight = 100 per core. */
  readonly cpuCores?: number;
  readonly pidsMax?: number;
}

/** Limits for a task needing `amounts` of the job's logical resources. */
export function limitsFor(
  physical: PhysicalResources,
  amounts: Readonly<Record<string, number>>,
  pidsMax: number,
): CgroupLimits {
  const limits: { memoryBytes?: number; cpuCores?: number; pidsMax?: number } = {};
  const ram = physical.ram_mb;
  if (ram && ram.enforcement === 'hard' && amounts[ram.logicalResource] !== undefined) {
    limits.memoryBytes = Math.max(
      1,
      Math.floor(amounts[ram.logicalResource]! * ram.multiplyLogicalBy * 1024 * 1024),
    );
  }
  const cpu = physical.cpu_core;
  if (cpu && cpu.enforcement === 'soft' && amounts[cpu.logicalResource] !== undefined) {
    limits.cpuCores = Math.max(0.01, amounts[cpu.logicalResource]! * cpu.multiplyLogicalBy);
  }
  if (pidsMax > 0) limits.pidsMax = pidsMax;
  return limits;
}

/** The controller each limit needs, with words for messages. */
export function limitControllers(limits: CgroupLimits): { controller: string; what: string }[] {
  const out: { controller: string; what: string }[] = [];
  if (limits.memoryBytes !== undefined)
    out.push({ controller: 'memory', what: 'a hard memory limit (physical_resources.ram_mb)' });
  if (limits.cpuCores !== undefined)
    out.push({ controller: 'cpu', what: 'a CPU weight (physical_resources.cpu_core)' });
  if (limits.pidsMax !== undefined)
    out.push({ controller: 'pids', what: 'task_subprocess.cgroups.pids_max' });
  return out;
}
