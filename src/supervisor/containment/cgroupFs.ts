/**
 * Small operations on cgroup directories shared by v1 and v2: listing member
 * pids, removing a task's cgroup tree deepest first, and waiting with
 * exponential backoff (poll_ms doubling up to 10 s) where the kernel offers
 * no notification.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MAX_BACKOFF_MS = 10_000;

/** Errors of a cgroup that vanished (or is being removed) under us: treat it as empty. */
const VANISHED = new Set(['ENOENT', 'ENODEV', 'ESTALE']);

function vanished(error: unknown): boolean {
  return VANISHED.has((error as NodeJS.ErrnoException).code ?? '');
}

export function readPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch (error) {
    if (vanished(error)) return [];
    throw error;
  }
}

/** Pids in the cgroup and every sub-cgroup a task may have created. */
export function readPidsRecursive(dir: string): number[] {
  const pids = readPids(dir);
  for (const child of subdirectories(dir)) pids.push(...readPidsRecursive(child));
  return pids;
}

export function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(dir, entry.name));
  } catch (error) {
    if (vanished(error)) return [];
    throw error;
  }
}

/**
 * Removes a cgroup and its sub-cgroups, deepest first, off the event loop
 * (rmdir of a cgroup is slow kernel work). Throws EBUSY if a process is
 * still inside.
 */
export async function removeCgroupTree(dir: string): Promise<void> {
  try {
    await rmdir(dir);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw error;
  }
  // Sub-cgroups the task made (or a process still inside: then the retry throws EBUSY).
  for (const child of subdirectories(dir)) await removeCgroupTree(child);
  try {
    await rmdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

export function writeControl(dir: string, file: string, value: string): void {
  writeFileSync(join(dir, file), value);
}

/** writeControl off the event loop. */
export function writeControlAsync(dir: string, file: string, value: string): Promise<void> {
  return writeFile(join(dir, file), value);
}

export function readControl(dir: string, file: string): string | undefined {
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

/** SIGKILLs each pid; a pid that vanished meanwhile is fine. */
export function killPids(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): number {
  let sent = 0;
  for (const pid of pids) {
    if (pid <= 1) continue;
    try {
      process.kill(pid, signal);
      sent++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  return sent;
}

/** Resolves when `done()` holds, checking at `firstMs`, then doubling up to 10 s. */
export function waitWithBackoff(done: () => boolean, firstMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let delay = Math.max(1, firstMs);
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      try {
        if (done()) return resolve();
      } catch (error) {
        return reject(error as Error);
      }
      if (signal?.aborted) return reject(new Error('aborted'));
      timer = setTimeout(check, delay);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    };
    signal?.addEventListener('abort', () => {
      if (timer) clearTimeout(timer);
      reject(new Error('aborted'));
    });
    check();
  });
}
