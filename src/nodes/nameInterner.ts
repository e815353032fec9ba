/**
 * Interns node names to small integers so statuses and resource budgets can
 * live in typed arrays indexed by name. Ids are never freed: a name keeps its
 * id for the life of the process (as in the original).
 *
 * An open-addressing hash table over typed arrays rather than a
 * `Map<string, number>`: at millions of names a Map's insertions slow down
 * more than linearly (its backing store is rehashed and copied as it grows,
 * and every entry is a heap object the garbage collector walks), and V8
 * caps a Map at 2^24 entries. Here a name costs its slot (4 bytes at a load
 * of at most three quarters, so 5.3–10.7) and its hash (4 bytes), and
 * `reserve` sizes the table once for a node list of known length.
 */
import { runSteps, SLICE_ITERATIONS, type Steps } from './eventLoopSlicer.js';

const INITIAL_CAPACITY = 1024;
const EMPTY = -1;

export class NameInterner {
  private readonly names: string[] = [];
  /** Id of the name in each slot, or EMPTY. Capacity is a power of two. */
  private slots = new Int32Array(INITIAL_CAPACITY).fill(EMPTY);
  /** FNV-1a hash of each name, by id: probes compare it before the string, and growth reuses it. */
  private hashes = new Int32Array(INITIAL_CAPACITY);

  get size(): number {
    return this.names.length;
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
    while (id < this.names.length) {
      placeId(slots, mask, this.hashes[id]!, id++);
      if (id % SLICE_ITERATIONS === 0) yield;
    }
    // New names meanwhile may have grown the current table past this one.
    if (capacity > this.slots.length) this.slots = slots;
  }

  intern(name: string): number {
    const hash = hashOf(name);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot]!;
      if (id === EMPTY) return this.add(name, hash, slot);
      if (this.hashes[id] === hash && this.names[id] === name) return id;
    }
  }

  /** The id, or -1 if the name was never interned. */
  lookup(name: string): number {
    const hash = hashOf(name);
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot]!;
      if (id === EMPTY) return -1;
      if (this.hashes[id] === hash && this.names[id] === name) return id;
    }
  }

  name(id: number): string {
    const name = this.names[id];
    if (name === undefined) throw new RangeError(`unknown name id ${id}`);
    return name;
  }

  private add(name: string, hash: number, slot: number): number {
    const id = this.names.length;
    this.names.push(name);
    if (id >= this.hashes.length) this.hashes = copied(this.hashes, id * 2);
    this.hashes[id] = hash;
    this.slots[slot] = id;
    if (tooFull(id + 1, this.slots.length)) this.rehash(this.slots.length * 2);
    return id;
  }

  private rehash(capacity: number): void {
    const slots = new Int32Array(capacity).fill(EMPTY);
    const mask = capacity - 1;
    for (let id = 0; id < this.names.length; id++) placeId(slots, mask, this.hashes[id]!, id);
    this.slots = slots;
  }
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

/** 32-bit FNV-1a over UTF-16 code units. */
function hashOf(name: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash;
}

function copied(array: Int32Array, length: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(length);
  grown.set(array);
  return grown;
}
