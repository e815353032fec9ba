import { runSteps, SLICE_ITERATIONS, type Steps } from './eventLoopSlicer.js';

/**
 * Interns node names to small integers so statuses and resource budgets can
 * live in typed arrays indexed by name. Ids are never freed: a name keeps its
 * id for the life of the process (as in the original).
 *
 * An open-addressing hash table over typed arrays rather than a
 * `Map<string, number>`: at millions of names a Map's insertions slow down
 * more than linearly (its backing store is rehashed and copied as it grows),
 * and V8 caps a Map at 2^24 entries. The names themselves are kept as UTF-16
 * code units in one growing array, not as a string each: millions of
 * long-lived strings are millions of objects every full collection walks
 * and moves, which held the event loop for 75–120 ms at a time at three
 * million nodes. A name costs its code units (2 bytes each), its offset and
 * hash (8 bytes) and its slot (4 bytes at a load of at most three quarters,
 * so 5.3–10.7); `name(id)` makes the string when asked.
 */
const INITIAL_CAPACITY = 1024;
const EMPTY = -1;

export class NameInterner {
  private count = 0;
  /** Every name's code units, one after another. */
  private units = new Uint16Array(INITIAL_CAPACITY * 8);
  private unitsUsed = 0;
  /** Where each name's units start, by id; the next id's start is where it ends. */
  private starts = new Int32Array(INITIAL_CAPACITY + 1);
  /** Id of the name in each slot, or EMPTY. Capacity is a power of two. */
  private slots = new Int32Array(INITIAL_CAPACITY).fill(EMPTY);
  /** FNV-1a hash of each name, by id: probes compare it before the name, and growth reuses it. */
  private hashes = new Int32Array(INITIAL_CAPACITY);

  get size(): number {
    return this.count;
  }

  /** Makes room for `count` names in all without growing again. */
  reserve(count: number): void {
    runSteps(this.reserving(count));
  }

  /**
   * `reserve`, yielding between slices: the larger table is filled beside
   * the current one, which serves lookups and new names meanwhile (those
   * are placed in the new one too before it replaces it).
   */
  *reserving(count: number): Steps<void> {
    if (count > this.hashes.length) this.hashes = copied(this.hashes, count);
    let capacity = this.slots.length;
    while (tooFull(count, capacity)) capacity *= 2;
    if (capacity <= this.slots.length) return;
    const slots = new Int32Array(capacity).fill(EMPTY);
    const mask = capacity - 1;
    let id = 0;
    while (id < this.count) {
      placeId(slots, mask, this.hashes[id]!, id++);
      if (id % SLICE_ITERATIONS === 0) yield;
    }
    // New names meanwhile may have grown the current table past this one.
    if (capacity > this.slots.length) this.slots = slots;
  }

  intern(name: string): number {
    const hash = fnv1a32(name);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot]!;
      if (id === EMPTY) return this.add(name, hash, slot);
      if (this.hashes[id] === hash && this.holds(id, name)) return id;
    }
  }

  /** The id, or -1 if the name was never interned. */
  lookup(name: string): number {
    const hash = fnv1a32(name);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot]!;
      if (id === EMPTY) return -1;
      if (this.hashes[id] === hash && this.holds(id, name)) return id;
    }
  }

  name(id: number): string {
    if (!(id >= 0 && id < this.count)) throw new RangeError(`unknown name id ${id}`);
    const start = this.starts[id]!;
    const end = this.starts[id + 1]!;
    // Node names are short: one call for most, pieces for a long one.
    let text = '';
    for (let at = start; at < end; at += 1024)
      text += fromUnits(this.units.subarray(at, Math.min(end, at + 1024)));
    return text;
  }

  /** Whether the name with this id is `name`. */
  private holds(id: number, name: string): boolean {
    const start = this.starts[id]!;
    if (this.starts[id + 1]! - start !== name.length) return false;
    const units = this.units;
    for (let i = 0; i < name.length; i++) if (units[start + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private add(name: string, hash: number, slot: number): number {
    const id = this.count;
    if (id + 1 >= this.starts.length) this.starts = copied(this.starts, this.starts.length * 2);
    if (id >= this.hashes.length) this.hashes = copied(this.hashes, id * 2);
    const start = this.unitsUsed;
    if (start + name.length > this.units.length) {
      const grown = new Uint16Array(Math.max(this.units.length * 2, start + name.length));
      grown.set(this.units.subarray(0, start));
      this.units = grown;
    }
    for (let i = 0; i < name.length; i++) this.units[start + i] = name.charCodeAt(i);
    this.unitsUsed = start + name.length;
    this.starts[id + 1] = this.unitsUsed;
    this.hashes[id] = hash;
    this.slots[slot] = id;
    this.count = id + 1;
    if (tooFull(id + 1, this.slots.length)) this.rehash(this.slots.length * 2);
    return id;
  }

  private rehash(capacity: number): void {
    const slots = new Int32Array(capacity).fill(EMPTY);
    const mask = capacity - 1;
    for (let id = 0; id < this.count; id++) placeId(slots, mask, this.hashes[id]!, id);
    this.slots = slots;
  }
}

/** The string of these UTF-16 code units (a typed array is array-like, which apply accepts). */
function fromUnits(units: Uint16Array): string {
  return String.fromCharCode.apply(null, units as unknown as number[]);
}

/** Puts `id` in the first free slot from its hash on. */
function placeId(slots: Int32Array, mask: number, hash: number, id: number): void {
  let slot = hash & mask;
  while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
  slots[slot] = id;
}

/** Linear probing stays short up to three quarters full. */
function tooFull(count: number, capacity: number): boolean {
  return count * 4 > capacity * 3;
}

/** 32-bit FNV-1a over UTF-16 code units (signed). */
export function fnv1a32(name: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash;
}

function copied(array: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(length);
  grown.set(array);
  return grown;
}
