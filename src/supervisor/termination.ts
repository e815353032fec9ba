/**
 * How one task is stopped: signals, the delayed SIGKILL of term_wait_kill,
 * the containment's kill, and the unkillable watch.
 *
 * Signals go to the task's process group while it leads one and the group
 * still has members, else to the main process while it is unreaped; never to
 * pid 0 or -1. Once a group is seen empty it is never signalled again.
 * Residual risk without containment: between two checks a group can empty
 * and its id be reused after a full wrap of the pid space; cgroups remove
 * that risk.
 */
import type { KillRequest } from '../config/killRequest.js';
import type { KillOutcome, TaskContainment } from './taskSpec.js';
import type { TaskEventName } from './taskEvents.js';

/** What termination needs to know of its task, read at each use. */
export interface TerminationTarget {
  readonly pid: () => number | undefined;
  readonly leadsGroup: boolean;
  readonly exited: () => boolean;
  readonly containment: () => TaskContainment | undefined;
  /** Seconds processes may survive SIGKILL before the task is reported unkillable. */
  readonly unkillableTimeoutSec: number;
  readonly emit: (event: TaskEventName, fields: Record<string, unknown>) => void;
  readonly onUnkillable: () => void;
}

export class Termination {
  /** A kill request sent the task a signal (or cancelled its launch). */
  killed = false;
  private groupGone = false;
  private killTimer: NodeJS.Timeout | undefined;
  private killTimerAt = Infinity;
  private unkillableTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly task: TerminationTarget) {}

  /** Applies a kill request to a spawned task. */
  apply(request: KillRequest, reason: string): KillOutcome {
    if (request.method === 'kill' || (request.method === 'term_wait_kill' && request.killWaitMs <= 0)) {
      this.sendKill(reason);
      return { ok: true, message: 'sent SIGKILL' };
    }
    this.signal('SIGTERM', reason);
    // A stopped task must still see the TERM.
    this.signal('SIGCONT', reason);
    if (request.method === 'term') return { ok: true, message: 'sent SIGTERM' };
    this.scheduleKill(Date.now() + request.killWaitMs, reason);
    return { ok: true, message: `sent SIGTERM; SIGKILL in ${request.killWaitMs} ms unless it completes` };
  }

  /** SIGKILL now, everything in reach, and start the unkillable watch. */
  sendKill(reason: string): void {
    this.clearKillTimer();
    this.signal('SIGKILL', reason);
    this.watchUnkillable();
  }

  /** After the main process exited: nothing the task spawned within reach may outlive it. */
  killGroupRemains(): void {
    if (this.task.leadsGroup && this.groupHasMembers())
      this.sendTo('SIGKILL', 'main process exited', 'group');
  }

  /** SIGKILLs processes a scan found carrying the task's marker or holding its pipes. */
  killEscaped(pids: readonly number[], reason: string): void {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        this.task.emit('signal_sent', { signal: 'SIGKILL', target: 'escaped', pid, reason });
      } catch {
        // gone meanwhile
      }
    }
  }

  watchUnkillable(): void {
    if (this.unkillableTimer || this.stopped) return;
    const seconds = this.task.unkillableTimeoutSec;
    this.unkillableTimer = setTimeout(() => {
      if (this.stopped) return;
      this.task.emit('unkillable', { message: `processes survived SIGKILL for ${seconds} s` });
      this.task.onUnkillable();
    }, seconds * 1000);
    this.unkillableTimer.unref();
  }

  /** The task is complete: no more timers. */
  stop(): void {
    this.stopped = true;
    this.clearKillTimer();
    if (this.unkillableTimer) clearTimeout(this.unkillableTimer);
  }

  private signal(signal: NodeJS.Signals, reason: string): void {
    this.killed = true;
    const containment = this.task.containment();
    // A cgroup holds the whole task: its own SIGKILL is exact (and a group SIGKILL racing a
    // v1 freeze would only leave dying processes frozen until the thaw).
    const viaCgroupOnly = containment !== undefined && signal === 'SIGKILL';
    const exited = this.task.exited();
    const target = this.task.leadsGroup && this.groupHasMembers() ? 'group' : !exited ? 'process' : undefined;
    if (target && !viaCgroupOnly) this.sendTo(signal, reason, target);
    // The launcher joins its cgroups as its first step: a kill before that must reach it directly.
    else if (viaCgroupOnly && !exited) this.sendTo(signal, reason, 'process');
    if (containment) {
      const all = signal === 'SIGKILL' ? containment.killAll() : containment.signalAll(signal);
      all.then(
        () => {
          if (signal === 'SIGKILL')
            this.task.emit('cgroup_killed', { strategy: containment.strategy, reason });
        },
        (error: Error) => this.task.emit('task_pipe_error', { pipe: 'containment', message: error.message }),
      );
    }
  }

  private groupHasMembers(): boolean {
    const pid = this.task.pid();
    if (this.groupGone || pid === undefined || pid <= 1) return false;
    try {
      process.kill(-pid, 0);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') return true;
      this.groupGone = true;
      return false;
    }
  }

  private sendTo(signal: NodeJS.Signals, reason: string, target: 'group' | 'process'): void {
    const pid = this.task.pid();
    if (pid === undefined || pid <= 1) return;
    try {
      process.kill(target === 'group' ? -pid : pid, signal);
      this.task.emit('signal_sent', { signal, target, pid, reason });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH' && target === 'group') this.groupGone = true;
    }
  }

  /** term_wait_kill's delayed SIGKILL: the earliest pending one wins. */
  private scheduleKill(at: number, reason: string): void {
    if (at >= this.killTimerAt) return;
    this.clearKillTimer();
    this.killTimerAt = at;
    this.killTimer = setTimeout(
      () => {
        this.killTimer = undefined;
        this.killTimerAt = Infinity;
        if (!this.stopped) this.sendKill(`${reason} (after kill_wait_ms)`);
      },
      Math.max(0, at - Date.now()),
    );
  }

  private clearKillTimer(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = undefined;
    this.killTimerAt = Infinity;
  }
}
