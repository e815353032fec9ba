/**
 * Shared benchmark plumbing: the machine description, percentiles, and the
 * figures each benchmark prints last as one JSON object per line.
 */
import { cpus, freemem, totalmem } from 'node:os';

export interface Figure {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly [context: string]: unknown;
}

export function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    free_memory_gb: Math.round(freemem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export function printMachine(bench: string): void {
  console.log(`# ${bench} benchmark on ${JSON.stringify(machine())}`);
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function rssMb(): number {
  return round(process.memoryUsage().rss / 2 ** 20, 1);
}

/** Prints the figures as JSON lines, the last lines of the benchmark's output. */
export function printFigures(bench: string, figures: readonly Figure[]): void {
  for (const figure of figures) console.log(JSON.stringify({ bench, ...figure }));
}

export function timeMs(action: () => void): number {
  const start = process.hrtime.bigint();
  action();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Waits until `condition` holds, looking every `pollMs`; throws naming `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 30_000,
  pollMs = 20,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
