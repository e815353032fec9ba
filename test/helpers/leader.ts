import type { DaemonProcess } from './daemon.js';
import { call } from './http.js';
import { waitFor } from './processes.js';

/** A scheduler started by a test: its process and its REST port. */
export interface SchedulerUnderTest {
  readonly daemon: DaemonProcess;
  readonly port: number;
}

export interface LeaderAnswer {
  readonly role: string;
  readonly leader: string | null;
}

/** The `leader` handler's answer, or undefined while the API does not answer. */
export async function role(port: number): Promise<LeaderAnswer | undefined> {
  try {
    return (await call(port, 'leader')).data as LeaderAnswer | undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the scheduler has `wanted` role and knows who leads. */
export async function waitRole(
  scheduler: SchedulerUnderTest,
  wanted: 'leader' | 'standby',
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  await scheduler.daemon.withOutput(
    waitFor(
      async () => {
        const seen = await role(scheduler.port);
        // A standby knows who leads only after its first look at the lease row.
        return seen?.role === wanted && seen.leader !== null;
      },
      timeoutMs,
      what,
    ),
  );
}
