/**
 * The worker watchdog (native/src/watchdog.c): a small process in its own
 * session that SIGKILLs the worker and every task of its incarnation once
 * the worker's lease deadline passes without a newer one, or the worker
 * dies. The worker arms it after each lease renewal; no task starts unless
 * it acknowledged a deadline still in the future.
 *
 * ```ts
 * const watchdog = Watchdog.start({ cgroups: ['/sys/fs/cgroup/unified/bistro.slice/me'] });
 * await watchdog.arm(boottimeMs() + 25_000); // after a lease renewal
 * watchdog.mayStart(boottimeMs());            // true until that deadline
 * await watchdog.stop();                      // clean exit, tasks already gone
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { watchdogPath } from './native.js';

export interface WatchdogOptions {
  /** Cgroup sub-trees that hold only this worker's tasks. */
  readonly cgroups?: readonly string[];
  /** Called if the watchdog exits without being stopped (it fired, or crashed). */
  readonly onExit?: (code: number | null, stderr: string) => void;
  /** The process it kills too when it fires, if that is still its parent (default: this one). */
  readonly workerPid?: number;
}

/** The watchdog's pipes: commands in, acknowledgements out, diagnostics, and process groups in. */
type WatchdogChild = ChildProcess & {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
};

export class Watchdog {
  private acked = 0;
  private stopped = false;
  private exited = false;
  private stderr = '';
  private readonly ackWaiters: { deadline: number; resolve: () => void }[] = [];
  private readonly cgroups = new Set<string>();
  /** Process-group lines waiting for the end of the turn. */
  private readonly queued: string[] = [];

  private constructor(
    private readonly child: WatchdogChild,
    /** Process-group lines: a pipe the watchdog reads without waiting on it. */
    private readonly groups: Writable,
    options: WatchdogOptions,
  ) {
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const match = /^ack (\d+)$/.exec(line);
        if (match) this.onAck(Number(match[1]));
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4096)));
    child.stdin.on('error', () => undefined);
    groups.on('error', () => undefined);
    child.on('exit', (code) => {
      this.exited = true;
      this.acked = 0;
      for (const waiter of this.ackWaiters.splice(0)) waiter.resolve();
      if (!this.stopped) options.onExit?.(code, this.stderr);
    });
    for (const dir of options.cgroups ?? []) this.addCgroup(dir);
  }

  static start(options: WatchdogOptions = {}): Watchdog {
    const child = spawn(
      watchdogPath(),
      ['--worker-pid', String(options.workerPid ?? process.pid), '--pgid-fd', '3'],
      { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], detached: true },
    ) as WatchdogChild;
    return new Watchdog(child, child.stdio[3] as Writable, options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sets the deadline; resolves when the watchdog acknowledged it. */
  arm(deadlineBoottimeMs: number): Promise<void> {
    const deadline = Math.floor(deadlineBoottimeMs);
    return new Promise((resolve) => {
      this.ackWaiters.push({ deadline, resolve });
      this.send(`arm ${deadline}`);
    });
  }

  /** The worker killed its tasks itself: the watchdog empties the task cgroups and waits unarmed. */
  disarm(): void {
    this.acked = 0;
    this.send('disarm');
  }

  /** Whether tasks may start: the watchdog acknowledged a deadline after `now`. */
  mayStart(nowBoottimeMs: number): boolean {
    return !this.exited && this.acked > nowBoottimeMs;
  }

  addCgroup(dir: string): void {
    if (this.cgroups.has(dir)) return;
    this.cgroups.add(dir);
    this.send(`cgroup ${dir}`);
  }

  /** Process groups are reported in batches, at the end of the event-loop turn (see `queue`). */
  addProcessGroup(pgid: number): void {
    this.queue(`pgid +${pgid}`);
  }

  removeProcessGroup(pgid: number): void {
    this.queue(`pgid -${pgid}`);
  }

  /** A clean stop: the worker's tasks are gone. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.send('stop');
      this.child.stdin.end();
      this.groups.end();
    });
  }

  private send(line: string): void {
    this.flush();
    if (this.exited || this.child.stdin.destroyed) return;
    this.child.stdin.write(`${line}\n`);
  }

  /**
   * Process groups go on a pipe of their own that the watchdog does not
   * wait on: it reads it whenever it wakes (a command, or once a second)
   * and always before it fires, so a task's start or end is not a context
   * switch into it. The lines of one turn go in one write. (Tasks are
   * contained in cgroups, which the watchdog already knows; their process
   * groups are its second reach.)
   */
  private queue(line: string): void {
    this.queued.push(line);
    if (this.queued.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.queued.length === 0) return;
    const lines = this.queued.splice(0);
    if (this.exited || this.groups.destroyed) return;
    this.groups.write(`${lines.join('\n')}\n`);
  }

  private onAck(deadline: number): void {
    this.acked = deadline;
    for (let i = this.ackWaiters.length - 1; i >= 0; i--) {
      const waiter = this.ackWaiters[i]!;
      if (waiter.deadline === deadline || deadline === 0) {
        this.ackWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
