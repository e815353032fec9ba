/**
 * A small file of reserved space in the data directory. Opening a SQLite
 * database in WAL mode allocates its shared-memory index (32 KB per
 * database): on a full disk that fails, and a scheduler restarted there
 * could not even open its stores to read the statuses it must honour. So the
 * reserve is released right before the stores open, and restored once there
 * is room again.
 */
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Enough for both stores' shared-memory indexes and their first WAL frames. */
export const RESERVE_BYTES = 256 * 1024;
const RESERVE_FILE = 'space-reserve';

export class SpaceReserve {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = join(dataDir, RESERVE_FILE);
  }

  /** Frees the reserved space for the stores to open with. */
  release(): void {
    rmSync(this.file, { force: true });
  }

  /** Writes the reserve if it is missing; returns false when the disk has no room for it yet. */
  restore(): boolean {
    try {
      if (statSync(this.file).size === RESERVE_BYTES) return true;
    } catch {
      // missing: write it below
    }
    let fd: number | undefined;
    try {
      fd = openSync(this.file, 'w', 0o600);
      // Real blocks, not a sparse file: the point is that the space is taken.
      const block = Buffer.alloc(64 * 1024);
      for (let written = 0; written < RESERVE_BYTES; written += block.length) writeSync(fd, block);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      this.release();
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
