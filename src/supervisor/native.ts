/**
 * The native piece: the task launcher executable and the addon with
 * `createPipe` and `spawnProcess` (clone + pidfd exit watch), both
 * built by `npm ci` (node-gyp, native/binding.gyp). A missing
 * build is a clear startup error, not a crash at the first task.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const BUILD_DIR = fileURLToPath(new URL('../../native/build/Release/', import.meta.url));

export const LAUNCHER_PATH = `${BUILD_DIR}task-launcher`;
export const WATCHDOG_PATH = `${BUILD_DIR}bistro-watchdog`;

interface NativeAddon {
  /** A pipe(2) with both ends close-on-exec: [readFd, writeFd]. */
  createPipe(): [number, number];
  closeFd(fd: number): void;
  /**
   * An exclusive non-blocking flock(2) on `path` (created if missing): the
   * descriptor that holds it, or -1 if another process holds it. The lock
   * lasts until the descriptor is closed or the process exits.
   */
  lockFile(path: string): number;
  /** CLOCK_BOOTTIME in milliseconds: monotonic, and counting through a suspend (lease deadlines). */
  boottimeMs(): number;
  /**
   * Starts `file` (argv[0] included in `argv`, env as "NAME=value"); child fd i gets
   * fds[i], -1 meaning /dev/null; the caller may close its fds as soon as this returns.
   * The clone happens on the addon's launch thread, so the event loop never waits for it:
   * `onStarted` runs once it happened (an errno error, or the pid, the start time in clock
   * ticks since boot as /proc/<pid>/stat shows it, -1 when unsure, and the wall clock in
   * epoch milliseconds right after the clone), then `onExit`
   * once the process is reaped; `ran` is false only for a child that died before it ran
   * an instruction (killed inside the clone). The child keeps the caller's priority until
   * its exec (it shares the caller's memory until then: see native/src/spawn.c). With
   * `cgroupDir` (a cgroup v2 directory), the child is cloned straight into it (clone3 with
   * CLONE_INTO_CGROUP; ENOSYS where that is missing): see containment/startInCgroup.ts for
   * when that is safe. Throws on bad arguments, or an errno error if it cannot queue.
   */
  spawnProcess(
    file: string,
    argv: readonly string[],
    env: readonly string[],
    fds: readonly number[],
    onStarted: (
      error: NodeJS.ErrnoException | null,
      pid: number,
      startTicks: number,
      startedAtMs: number,
    ) => void,
    onExit: (exitCode: number | null, signalNumber: number | null, ran: boolean) => void,
    cgroupDir?: string,
  ): void;
  /**
   * Clones a child that exits at once straight into the cgroup v2 `dir`: "started",
   * "killed" (the kernel SIGKILLed it inside the clone), "unsupported" or "error <errno>".
   */
  probeStartInCgroup(dir: string): string;
}

export class NativeBuildMissing extends Error {
  constructor(what: string) {
    super(`${what} is missing; build it with "npm run build:native" (needs a C compiler, make and python3)`);
    this.name = 'NativeBuildMissing';
  }
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    const path = `${BUILD_DIR}bistro_native.node`;
    if (!existsSync(path)) throw new NativeBuildMissing(path);
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  }
  return addon;
}

export function watchdogPath(): string {
  if (!existsSync(WATCHDOG_PATH)) throw new NativeBuildMissing(WATCHDOG_PATH);
  return WATCHDOG_PATH;
}

export function launcherPath(): string {
  if (!existsSync(LAUNCHER_PATH)) throw new NativeBuildMissing(LAUNCHER_PATH);
  return LAUNCHER_PATH;
}
