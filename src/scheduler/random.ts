/**
 * A seeded random source, so a pass is reproducible from its seed (tests,
 * benchmarks); the daemon seeds it from the clock.
 */
import { fnv1a32 } from '../nodes/nameInterner.js';

export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
}

/** mulberry32: small, fast, good enough for shuffling and weighted picks. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** Fisher-Yates in place. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(
  items: T,
  random: RandomSource,
): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/**
 * The seed of one job's node order in a pass: from the pass's seed (one
 * draw) and the job's name, so a job's order depends on nothing another job
 * did or drew, and can be drawn a position at a time or all at once alike.
 */
export function jobOrderSeed(passSeed: number, jobName: string): number {
  return (Math.imul(passSeed ^ fnv1a32(jobName), 0x9e3779b1) ^ (passSeed >>> 16)) >>> 0;
}

/** A pass's seed for its jobs' node orders: one draw of the pass's random source. */
export function passOrderSeed(random: RandomSource): number {
  return Math.floor(random.next() * 4294967296) >>> 0;
}

/**
 * A random order of `values` (forward Fisher-Yates from `seed`), read an
 * entry at a time or all at once. Read one at a time, positions are drawn
 * as they are read, with the displaced ones in a map, so reading the first
 * few of ten million costs a few draws; `drawAll` makes the same draws
 * again from the seed, in one go, for when many will be read.
 */
export class RandomOrder {
  private position = 0;
  private readonly random: RandomSource;
  private readonly displaced = new Map<number, number>();

  constructor(
    private readonly values: Int32Array,
    private readonly seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  /** How many entries were read one at a time. */
  get read(): number {
    return this.position;
  }

  /** Where the next entry is in `values`, or -1 past the end. */
  next(): number {
    const i = this.position;
    const size = this.values.length;
    if (i >= size) return -1;
    this.position++;
    const displaced = this.displaced;
    const atI = displaced.get(i) ?? i;
    displaced.delete(i);
    if (size - i === 1) return atI;
    const j = i + Math.floor(this.random.next() * (size - i));
    if (j === i) return atI;
    const atJ = displaced.get(j) ?? j;
    displaced.set(j, atI);
    return atJ;
  }

  /**
   * The whole order as an array of values (those already read one at a
   * time first, in the order read). Written into `into` when it is long
   * enough.
   */
  drawAll(into?: Int32Array): Int32Array {
    const size = this.values.length;
    const all = into && into.length >= size ? into.subarray(0, size) : new Int32Array(size);
    all.set(this.values);
    const random = seededRandom(this.seed);
    for (let i = 0; i < size - 1; i++) {
      const j = i + Math.floor(random.next() * (size - i));
      const tmp = all[i]!;
      all[i] = all[j]!;
      all[j] = tmp;
    }
    return all;
  }
}
