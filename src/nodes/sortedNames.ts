/**
 * The distinct node names of one level in sorted order (UTF-16 code unit
 * order, as `Array.prototype.sort` gives), worked out in slices: at a
 * million nodes a one-go `sort` holds the event loop for most of a second.
 * Runs are sorted a few thousand names at a time, then merged pairwise.
 */
import { SLICE_ITERATIONS, type Steps } from './eventLoopSlicer.js';
import type { NodeSet } from './nodeSet.js';

/** Names sorted in one call of `sort` (a few milliseconds each). */
const RUN = 4096;

export function* sortedDistinctNames(nodes: NodeSet, level: number): Steps<string[]> {
  const atLevel = nodes.atLevel(level);
  // Replicas share a name: each name id once, in list order.
  const seen = new Uint8Array(nodes.interner.size);
  const names: string[] = [];
  for (let k = 0; k < atLevel.length; k++) {
    const nameId = nodes.nameIds[atLevel[k]!]!;
    if (seen[nameId] === 0) {
      seen[nameId] = 1;
      names.push(nodes.interner.name(nameId));
    }
    if (k % SLICE_ITERATIONS === SLICE_ITERATIONS - 1) yield;
  }
  return yield* sortedSteps(names);
}

/** `strings.sort()`, yielding between slices; sorts in place and returns the sorted array. */
export function* sortedSteps(strings: string[]): Steps<string[]> {
  for (let start = 0; start < strings.length; start += RUN) {
    const run = strings.slice(start, start + RUN).sort();
    for (let i = 0; i < run.length; i++) strings[start + i] = run[i]!;
    yield;
  }
  let from = strings;
  let into: string[] = new Array<string>(strings.length);
  let merged = 0;
  for (let width = RUN; width < from.length; width *= 2) {
    for (let left = 0; left < from.length; left += 2 * width) {
      const middle = Math.min(left + width, from.length);
      const end = Math.min(left + 2 * width, from.length);
      let i = left;
      let j = middle;
      let out = left;
      while (i < middle && j < end) {
        // Ties take the left run first, as a stable sort would.
        into[out++] = from[j]! < from[i]! ? from[j++]! : from[i++]!;
        if (++merged % SLICE_ITERATIONS === 0) yield;
      }
      while (i < middle) into[out++] = from[i++]!;
      while (j < end) into[out++] = from[j++]!;
    }
    [from, into] = [into, from];
  }
  return from;
}
