import {
  TASK_SUBPROCESS_WITHOUT_CGROUPS,
  type TaskSubprocessOptions,
} from '../../src/config/taskSubprocess.js';
import assert from 'node:assert/strict';
import { afterEach, beforeEach } from 'node:test';
import type { ContainmentFactory } from '../../src/supervisor/containment/containmentFactory.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import type { TaskEvent } from '../../src/supervisor/taskEvents.js';
import type { LogLine, TaskSpec } from '../../src/supervisor/taskSpec.js';
import { ProcessLedger } from './processes.js';

/**
 * Gives each test a fresh ProcessLedger and Recorder (through `use`), and
 * after each one stops the recorder's tasks and asserts that no process --
 * and whatever `alsoLeftBehind` checks -- is left behind.
 */
export function supervisedTests(
  use: (ledger: ProcessLedger, recorder: Recorder) => void,
  alsoLeftBehind?: () => void,
): void {
  let ledger: ProcessLedger;
  let recorder: Recorder;
  beforeEach(() => {
    ledger = new ProcessLedger();
    recorder = new Recorder();
    use(ledger, recorder);
  });
  afterEach(async () => {
    await recorder.stop();
    assert.deepEqual(await ledger.cleanup(), [], 'no process left behind');
    alsoLeftBehind?.();
  });
}

/** No containment: these tests cover the direct, process-group and canary strategies. */
export const NO_CGROUPS: TaskSubprocessOptions = TASK_SUBPROCESS_WITHOUT_CGROUPS;

export class Recorder {
  readonly events: TaskEvent[] = [];
  readonly lines = new Map<string, LogLine[]>();
  readonly supervisor: Supervisor;
  private counter = 0;

  /** `containment`: the supervisor's cgroup factory (by default one without an instance). */
  constructor(containment?: ContainmentFactory) {
    this.supervisor = new Supervisor({
      onEvent: (event) => this.events.push(event),
      onLog: (id, line) => {
        const list = this.lines.get(id) ?? [];
        list.push(line);
        this.lines.set(id, list);
      },
      ...(containment ? { containment } : {}),
    });
  }

  /** Starts `sh -c script sh <args...>`. */
  sh(script: string, args: string[] = [], options: Partial<TaskSubprocessOptions> = {}, cwd = '/tmp') {
    return this.start({
      argv: ['/bin/sh', '-c', script, 'sh', ...args],
      cwd,
      options: { ...NO_CGROUPS, ...options },
    });
  }

  start(spec: Omit<TaskSpec, 'invocationId'>) {
    return this.supervisor.start({ invocationId: `t${++this.counter}`, ...spec });
  }

  eventsOf(id: string): string[] {
    return this.events.filter((e) => e.invocationId === id).map((e) => e.event);
  }

  /** Kills anything still supervised and waits for it. */
  async stop(): Promise<void> {
    await this.supervisor.stopAll({ method: 'kill', killWaitMs: 0 }, 'test cleanup');
  }
}
