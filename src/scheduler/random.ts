/**
 * A seeded random source, so a pass is reproducible from its seed (tests,
 * benchmarks); the daemon seeds it from the clock.
 */
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
