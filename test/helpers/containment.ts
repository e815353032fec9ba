import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskSubprocessOptions } from '../../src/config/taskSubprocess.js';
import { readCgroupMounts } from '../../src/supervisor/containment/mounts.js';
import { NO_CGROUPS } from './supervisor.js';

export const TEST_SLICE = 'bistro-test.slice';
export const mounts = readCgroupMounts();

export interface Strategy {
  readonly name: 'cgroup_v1_freezer' | 'cgroup_v2' | 'pid_namespace';
  readonly options: TaskSubprocessOptions;
  /** Why it cannot run on this host, or undefined. */
  readonly missing: string | undefined;
}

const cgroups = (extra: Partial<NonNullable<TaskSubprocessOptions['cgroups']>>) => ({
  ...NO_CGROUPS.cgroups!,
  slice: TEST_SLICE,
  ...extra,
});

export const STRATEGIES: readonly Strategy[] = [
  {
    name: 'cgroup_v1_freezer',
    options: {
      ...NO_CGROUPS,
      cgroups: cgroups({ subsystems: ['freezer', 'memory', 'pids', 'cpu', 'cpuacct'] }),
    },
    missing: ['freezer', 'memory', 'pids'].every((s) => mounts.v1.has(s))
      ? undefined
      : 'cgroup v1 freezer/memory/pids are not mounted',
  },
  {
    name: 'cgroup_v2',
    options: { ...NO_CGROUPS, cgroups: cgroups({ version: 'v2' }) },
    missing: mounts.v2 ? undefined : 'no cgroup2 hierarchy is mounted',
  },
  {
    name: 'pid_namespace',
    options: { ...NO_CGROUPS, pidNamespace: true },
    missing: process.getuid?.() === 0 ? undefined : 'PID namespaces need root here',
  },
];

/** Every task-cgroup directory left under the test slices. */
export function leftoverTaskCgroups(): string[] {
  const slices = [
    ...(mounts.v2 ? [join(mounts.v2, TEST_SLICE)] : []),
    ...[...mounts.v1.values()].map((m) => join(m, TEST_SLICE)),
  ];
  return slices.filter(existsSync).flatMap((slice) =>
    readdirSync(slice, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(slice, e.name)),
  );
}

export function removeTestSlices(): void {
  for (const mount of [mounts.v2, ...mounts.v1.values()]) {
    if (!mount) continue;
    const slice = join(mount, TEST_SLICE);
    if (existsSync(slice)) rmdirSync(slice);
  }
}
