/**
 * When a task is complete, as a composition of facts rather than flags: its
 * processes are gone once the main process exited, its containment is empty
 * and its PID namespace (if any) is gone; it is complete once, in addition,
 * every pipe it holds reached EOF. So a grandchild holding stdout or the
 * canary keeps the task incomplete: the canary detects escapes it cannot
 * stop.
 */

/** Something that becomes true once and stays true: awaitable, set from anywhere. */
export class Fact {
  readonly reached: Promise<void>;
  private resolve!: () => void;
  private done = false;

  constructor() {
    this.reached = new Promise((resolve) => (this.resolve = resolve));
  }

  get isSet(): boolean {
    return this.done;
  }

  set(): void {
    if (this.done) return;
    this.done = true;
    this.resolve();
  }
}

export class TaskCompletion {
  readonly exited = new Fact();
  readonly containmentEmpty = new Fact();
  readonly namespaceGone = new Fact();

  /**
   * @param pipesClosed settles once every pipe reached EOF
   * @param onProcessesGone runs once no process of the task is left (pipes may still hold data)
   * @param onComplete runs once, after onProcessesGone, when the pipes are closed too
   */
  constructor(pipesClosed: Promise<void>, onProcessesGone: () => void, onComplete: () => void) {
    const processesGone = Promise.all([
      this.exited.reached,
      this.containmentEmpty.reached,
      this.namespaceGone.reached,
    ]).then(onProcessesGone);
    void Promise.all([processesGone, pipesClosed]).then(onComplete);
  }

  /** Sets every process fact at once (a launch that failed or never happened, or a task given up on). */
  giveUp(): void {
    this.exited.set();
    this.containmentEmpty.set();
    this.namespaceGone.set();
  }

  /** What is still awaited, for messages. */
  pending(openPipes: readonly string[]): string[] {
    const waits: string[] = [];
    if (!this.exited.isSet) waits.push('main process');
    if (!this.containmentEmpty.isSet) waits.push('cgroups not empty');
    if (!this.namespaceGone.isSet) waits.push('pid namespace');
    if (openPipes.length > 0) waits.push(`pipes open: ${openPipes.join(', ')}`);
    return waits;
  }
}
