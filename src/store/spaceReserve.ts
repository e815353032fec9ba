/**
 * A small file of reserved space in the data directory. Opening a SQLite
 * database in WAL mode allocates its shared-memory index (32 KB per
 * database): on a full disk that fails, and a scheduler restarted there
 * could not even open its stores to read the statuses it must honour. So the
 * reserve is released right before the stores open, and again when statuses
 * cannot be written (they come before anything else), and restored only once
 * the disk has several times its size free.
 */
import { closeSync, openSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
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

  /** Writes the reserve if it is missing and the disk has room to spare; returns whether it is there. */
  restore(): boolean {
    try {
      const stats = statfsSync(dirname(this.file));
      if (stats.bavail * stats.bsize < 4 * RESERVE_BYTES) return false;
    } catch {
      return false;
    }
    return this.write();
  }

  private write(): boolean {
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
