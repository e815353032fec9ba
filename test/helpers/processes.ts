import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isLive, processGroup, processStartTicks } from '../../src/supervisor/procStat.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Alive means present and not a zombie (init can take seconds to reap orphans here). */
export const isAlive = isLive;
export const processGroupOf = processGroup;

/** Waits until `condition` (sync or async) holds; an async one is awaited, never taken as truthy. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const startTicks = processStartTicks;

function uptimeTicks(): number {
  return Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A scratch directory plus a record of every pid a test's tasks report, so
 * the test can assert on them and clean up by pid (never by name).
 */
export class ProcessLedger {
  private madeDir: string | undefined;
  private readonly extra = new Set<number>();
  /** Only processes started after this are ours to kill: a recorded pid may have been reused. */
  private readonly createdTicks = uptimeTicks() - 1;

  /** Made on first use: a ledger a test never writes to leaves no directory behind. */
  get dir(): string {
    this.madeDir ??= mkdtempSync(join(tmpdir(), 'bistro-proc-'));
    return this.madeDir;
  }

  /** A file tasks append their pids to. */
  pidFile(name = 'pids'): string {
    return join(this.dir, name);
  }

  /** Pids written to `file`, waiting until there are at least `count`. */
  async pids(count: number, file = this.pidFile()): Promise<number[]> {
    let pids: number[] = [];
    await waitFor(
      () => {
        pids = existsSync(file)
          ? readFileSync(file, 'utf8')
              .split('\n')
              .filter((line) => line.trim() !== '')
              .map(Number)
          : [];
        return pids.length >= count;
      },
      10_000,
      `${count} pids in ${file}`,
    );
    return pids;
  }

  track(pid: number | undefined): void {
    if (pid !== undefined && pid > 1) this.extra.add(pid);
  }

  /** SIGKILLs every known pid still alive; returns those that were (leaks, unless expected). */
  async cleanup(files: string[] = [this.pidFile()]): Promise<number[]> {
    const pids = new Set(this.extra);
    for (const file of files) {
      if (!existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n'))
        if (line.trim() !== '') pids.add(Number(line));
    }
    const alive = [...pids].filter((pid) => isAlive(pid) && (startTicks(pid) ?? 0) >= this.createdTicks);
    for (const pid of alive) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitFor(() => alive.every((pid) => !isAlive(pid)), 5000, 'cleanup');
    if (this.madeDir !== undefined) rmSync(this.madeDir, { recursive: true, force: true });
    this.madeDir = undefined;
    return alive;
  }
}
