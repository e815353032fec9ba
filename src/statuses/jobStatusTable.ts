/**
 * The statuses of one job, column by column, indexed by interned node-name
 * id. A million nodes cost about 20 bytes each instead of an object each;
 * the scheduling pass reads the columns directly.
 */
import type { TaskStatus } from './taskStatus.js';

// Small: a task queue has thousands of one-task jobs; a big job grows by doubling.
const INITIAL_CAPACITY = 8;

export class JobStatusTable {
  /** 0 = no status. */
  bits = new Uint16Array(INITIAL_CAPACITY);
  time = new Float64Array(INITIAL_CAPACITY);
  backoffSec = new Uint32Array(INITIAL_CAPACITY);
  progressSec = new Uint32Array(INITIAL_CAPACITY);
  private readonly data = new Map<number, unknown>();
  private count = 0;
  /** Increments at every change: a pass may trust what it concluded at the same revision. */
  revision = 0;

  get size(): number {
    return this.count;
  }

  get(nameId: number): TaskStatus | undefined {
    if (nameId < 0 || nameId >= this.bits.length || this.bits[nameId] === 0) return undefined;
    const status: TaskStatus = {
      bits: this.bits[nameId]!,
      time: this.time[nameId]!,
      backoffSec: this.backoffSec[nameId]!,
      progressSec: this.progressSec[nameId]!,
    };
    return this.data.has(nameId) ? { ...status, data: this.data.get(nameId) } : status;
  }

  /** `nameCount`: how many names exist (every id is below it), so growth never goes past them. */
  set(nameId: number, status: TaskStatus, nameCount = Infinity): void {
    this.ensureCapacity(nameId + 1, nameCount);
    this.revision++;
    if (this.bits[nameId] === 0) this.count++;
    this.bits[nameId] = status.bits;
    this.time[nameId] = status.time;
    this.backoffSec[nameId] = status.backoffSec;
    this.progressSec[nameId] = status.progressSec;
    if (status.data === undefined) this.data.delete(nameId);
    else this.data.set(nameId, status.data);
  }

  /** Removes the status of `nameId`. */
  clear(nameId: number): void {
    if (nameId < 0 || nameId >= this.bits.length || this.bits[nameId] === 0) return;
    this.revision++;
    this.bits[nameId] = 0;
    this.data.delete(nameId);
    this.count--;
  }

  /** Ids that have a status, increasing. */
  *ids(): IterableIterator<number> {
    for (let id = 0; id < this.bits.length; id++) if (this.bits[id] !== 0) yield id;
  }

  private ensureCapacity(needed: number, nameCount: number): void {
    if (needed <= this.bits.length) return;
    let capacity = this.bits.length;
    while (capacity < needed) capacity *= 2;
    // Doubling far past the number of names only adds columns no id can use: at ten million
    // nodes, 6.7 million slots of 18 bytes per job (the next power of two is 16.8 million).
    // An eighth of headroom keeps growth amortized while new names keep coming.
    capacity = Math.min(capacity, Math.max(needed, Math.ceil(nameCount * 1.125)));
    // One buffer for the four columns: each allocation of tens of megabytes outside the heap can
    // set off a full collection (V8 counts external memory), four per job were a dozen in a row.
    const buffer = new ArrayBuffer(capacity * BYTES_PER_STATUS);
    this.time = grow(this.time, new Float64Array(buffer, 0, capacity));
    this.backoffSec = grow(this.backoffSec, new Uint32Array(buffer, capacity * 8, capacity));
    this.progressSec = grow(this.progressSec, new Uint32Array(buffer, capacity * 12, capacity));
    this.bits = grow(this.bits, new Uint16Array(buffer, capacity * 16, capacity));
  }
}

/** time (8 bytes), backoffSec and progressSec (4 each), bits (2). */
const BYTES_PER_STATUS = 18;

function grow<T extends Uint16Array | Uint32Array | Float64Array>(old: T, next: T): T {
  next.set(old as never);
  return next;
}
