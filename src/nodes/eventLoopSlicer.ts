/**
 * Lets a long synchronous loop give the event loop a turn every few ms, so
 * a node refresh of millions of nodes does not hold kill requests, task
 * exits and API queries for seconds. Loops ask `due()` now and then (every
 * thousand nodes, say) and await what it returns.
 */
const DEFAULT_SLICE_MS = 5;

export class EventLoopSlicer {
  private sliceStart = performance.now();

  constructor(private readonly sliceMs = DEFAULT_SLICE_MS) {}

  /** A promise that resolves after one turn of the event loop once the slice is used up; else undefined. */
  due(): Promise<void> | undefined {
    if (performance.now() - this.sliceStart < this.sliceMs) return undefined;
    return new Promise((resolve) =>
      setImmediate(() => {
        this.sliceStart = performance.now();
        resolve();
      }),
    );
  }
}

/** Loop iterations between two places where a sliced computation may pause. */
export const SLICE_ITERATIONS = 4096;

/** A computation written as a generator that yields where it may pause. */
export type Steps<T> = Generator<void, T>;

/** Runs `steps` to the end in one go. */
export function runSteps<T>(steps: Steps<T>): T {
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/** Runs `steps` to the end, awaiting `pause()` (EventLoopSlicer.due) at each yield. */
export async function runStepsSliced<T>(steps: Steps<T>, pause: () => Promise<void> | undefined): Promise<T> {
  let step = steps.next();
  while (!step.done) {
    await pause();
    step = steps.next();
  }
  return step.value;
}
