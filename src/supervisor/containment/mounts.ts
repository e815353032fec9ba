/** Where the cgroup hierarchies are mounted, read from /proc/self/mounts. */
import { readFileSync } from 'node:fs';

export interface CgroupMounts {
  /** The unified (v2) hierarchy, if mounted. */
  readonly v2: string | undefined;
  /** v1 controller name -> mount point. */
  readonly v1: ReadonlyMap<string, string>;
}

export function parseMounts(text: string): CgroupMounts {
  let v2: string | undefined;
  const v1 = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, mountPoint, type, options] = line.split(' ');
    if (!mountPoint || !type) continue;
    const path = mountPoint.replace(/\\040/g, ' ');
    if (type === 'cgroup2') v2 ??= path;
    if (type === 'cgroup') {
      for (const option of (options ?? '').split(',')) {
        if (
          ['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(option) ||
          option.startsWith('name=')
        )
          continue;
        v1.set(option, path);
      }
    }
  }
  return { v2, v1 };
}

export function readCgroupMounts(): CgroupMounts {
  return parseMounts(readFileSync('/proc/self/mounts', 'utf8'));
}
