import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RandomOrder } from '../../src/scheduler/random.js';

describe('RandomOrder', () => {
  it('reads the same permutation a position at a time as all at once, whenever it switches', () => {
    fc.assert(
      fc.property(fc.nat(60), fc.nat(), fc.nat(70), (size, seed, reads) => {
        const values = Int32Array.from({ length: size }, (_, i) => i * 3 + 1);
        const whole = Array.from(new RandomOrder(values, seed).drawAll());
        assert.deepEqual(
          [...whole].sort((a, b) => a - b),
          Array.from(values),
        );
        const drawn = new RandomOrder(values, seed);
        const read: number[] = [];
        for (let i = 0; i < reads; i++) {
          const next = drawn.next();
          if (next < 0) break;
          read.push(values[next]!);
        }
        assert.deepEqual(read, whole.slice(0, read.length));
        assert.equal(drawn.read, read.length);
        const rest = drawn.drawAll(new Int32Array(size + 3));
        assert.deepEqual(Array.from(rest.subarray(0, size)), whole);
      }),
      { numRuns: 500 },
    );
  });

  it('draws every order of four alike', () => {
    const counts = new Map<string, number>();
    const samples = 24_000;
    for (let seed = 0; seed < samples; seed++) {
      const drawn = new RandomOrder(Int32Array.of(0, 1, 2, 3), seed * 2654435761);
      const key = [drawn.next(), drawn.next(), drawn.next(), drawn.next()].join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.equal(counts.size, 24);
    // 1,000 expected each; five standard deviations (about 31) either way.
    for (const [order, count] of counts) assert.ok(Math.abs(count - 1000) < 160, `${order}: ${count}`);
  });
});
