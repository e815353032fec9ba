/**
 * Leftover discovery for restart recovery: task cgroups under the
 * configured slice that no live supervisor owns. Task cgroups are named by
 * the invocation id they were made for (a cgroup kept for later tasks keeps
 * its first task's name; which task ran in it last is in the launch records).
 */
import { join } from 'node:path';
import { readPidsRecursive, removeCgroupTree, subdirectories, writeControl } from './cgroupFs.js';
import type { ContainmentChoice } from './containmentFactory.js';

export interface LeftoverCgroup {
  readonly invocationId: string;
  /** The task's cgroup directory in each hierarchy/subsystem. */
  readonly paths: readonly string[];
  /** Processes still inside. */
  readonly pids: readonly number[];
}

/** Every task cgroup under the slice of `choice`, except those in `live`. */
export function findLeftoverCgroups(
  choice: ContainmentChoice,
  live: ReadonlySet<string> = new Set(),
): LeftoverCgroup[] {
  const sliceDirs =
    choice.kind === 'v2'
      ? [join(choice.root, choice.slice)]
      : choice.kind === 'v1'
        ? [
            ...new Set(
              (choice.options.subsystems.length > 0 ? choice.options.subsystems : ['freezer']).map((s) =>
                choice.mounts.get(s),
              ),
            ),
          ]
            .filter((mount): mount is string => mount !== undefined)
            .map((mount) => join(mount, choice.slice))
        : [];
  const byId = new Map<string, string[]>();
  for (const slice of sliceDirs) {
    for (const dir of subdirectories(slice)) {
      const id = dir.slice(slice.length + 1);
      if (live.has(id)) continue;
      byId.set(id, [...(byId.get(id) ?? []), dir]);
    }
  }
  return [...byId].map(([invocationId, paths]) => ({
    invocationId,
    paths,
    pids: [...new Set(paths.flatMap((path) => readPidsRecursive(path)))],
  }));
}

/**
 * Kills everything in a leftover and removes its cgroups. v2: `cgroup.kill`;
 * v1: freeze, SIGKILL, thaw where a freezer cgroup exists.
 */
export async function killLeftover(leftover: LeftoverCgroup, timeoutMs = 10_000): Promise<void> {
  for (const path of leftover.paths) {
    try {
      writeControl(path, 'cgroup.kill', '1');
    } catch {
      const frozen = tryWrite(path, 'freezer.state', 'FROZEN');
      for (const pid of readPidsRecursive(path)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      if (frozen) tryWrite(path, 'freezer.state', 'THAWED');
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (leftover.paths.some((path) => readPidsRecursive(path).length > 0)) {
    if (Date.now() > deadline)
      throw new Error(`leftover task ${leftover.invocationId} survived SIGKILL for ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  for (const path of leftover.paths) await removeCgroupTree(path);
}

function tryWrite(dir: string, file: string, value: string): boolean {
  try {
    writeControl(dir, file, value);
    return true;
  } catch {
    return false;
  }
}
