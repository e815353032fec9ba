/**
 * Opens a SQLite file with the settings every store uses (WAL, NORMAL sync,
 * a busy timeout) and brings its schema up to date. Each schema version is
 * one migration, applied in a transaction and recorded in `user_version`, so
 * an older data directory upgrades in place and a newer one is refused.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

export class StoreError extends Error {
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
    this.name = 'StoreError';
  }
}

/** Migration N brings the schema from version N to N + 1. */
export function openDatabase(file: string, migrations: readonly string[]): SqliteDatabase {
  mkdirSync(dirname(file), { recursive: true });
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new StoreError(
        `schema version ${version} is newer than this program understands (${migrations.length})`,
        file,
      );
    }
    const opened = db;
    for (let v = version; v < migrations.length; v++) {
      opened.transaction(() => {
        opened.exec(migrations[v]!);
        opened.pragma(`user_version = ${v + 1}`);
      })();
    }
  } catch (error) {
    db?.close();
    if (error instanceof StoreError) throw error;
    throw new StoreError(`cannot open database (${(error as Error).message})`, file, { cause: error });
  }
  return db;
}

/**
 * Throws if the database cannot commit a write (a full disk): rewrites the
 * header's `user_version` with its own value, which commits a page and
 * changes nothing. A failing store probes with this before it resumes.
 */
export function probeWrite(db: SqliteDatabase): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  db.pragma(`user_version = ${version}`);
}

/**
 * Folds the WAL back into the database and truncates it, freeing the space
 * a growing WAL holds; used when writes fail for lack of space. Never throws
 * (a checkpoint on a full disk may fail too; the next retry tries again).
 */
export function checkpointQuietly(db: SqliteDatabase): void {
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    // still no room: the caller's retry comes back here
  }
}
