/**
 * The persistent identity of one scheduler instance, kept in its data dir.
 *
 * Every instance on a host owns exactly what its identity names: its task
 * cgroups live under `<slice>/<identity>/` and its running-task records in
 * its own data dir. Restart recovery looks only there, so several schedulers
 * (and, later, workers) share a host without touching each other's tasks.
 *
 * Two locks make the ownership exclusive, both flock(2)s that the kernel
 * drops with the process (no stale lock after a crash, no check-then-take
 * race):
 *   - `<data dir>/instance.lock`: one scheduler per data dir;
 *   - `<lock dir>/<identity>.lock` (under /run): one data dir per identity on
 *     this host, which catches a copied data dir started beside its original.
 * The identity file also records the data dir's real path, so a copy or a
 * move is refused even when the original is not running.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { native } from '../supervisor/native.js';

export const IDENTITY_FILE = 'instance.json';
export const DATA_DIR_LOCK = 'instance.lock';
/** Host-wide identity locks; tmpfs, so a reboot (which ends every task) clears them. */
export const DEFAULT_IDENTITY_LOCK_DIR = '/run/bistro/instances';

const IDENTITY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export class InstanceIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstanceIdentityError';
  }
}

export interface InstanceIdentity {
  /** Safe as a cgroup directory name. */
  readonly id: string;
  /** The data dir's real path. */
  readonly dataDir: string;
  /** Drops both locks (the process exit does too). */
  release(): void;
}

interface IdentityRecord {
  readonly id: string;
  readonly data_dir: string;
  readonly created: string;
}

/** A problem with a requested identity, or undefined if it is usable. */
export function instanceIdProblem(id: string): string | undefined {
  return IDENTITY_PATTERN.test(id)
    ? undefined
    : `instance id ${JSON.stringify(id)} must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`;
}

/**
 * Takes the data dir and its identity for this process, creating the
 * identity on first use (`requestedId`, or a random one). Throws
 * InstanceIdentityError, naming the holder, if another process has either.
 */
export function claimInstance(
  dataDir: string,
  requestedId?: string,
  lockDir: string = DEFAULT_IDENTITY_LOCK_DIR,
): InstanceIdentity {
  if (requestedId !== undefined) {
    const problem = instanceIdProblem(requestedId);
    if (problem) throw new InstanceIdentityError(`--instance-id: ${problem}`);
  }
  mkdirSync(dataDir, { recursive: true });
  const realDir = realpathSync(dataDir);
  const dataLock = takeLock(join(realDir, DATA_DIR_LOCK), (holder) => {
    return `data dir ${realDir} is in use by another scheduler${holder}; each scheduler needs a data dir of its own`;
  });
  try {
    const record = readOrCreateIdentity(realDir, requestedId);
    mkdirSync(lockDir, { recursive: true });
    const identityLockPath = join(lockDir, `${record.id}.lock`);
    const identityLock = takeLock(identityLockPath, (holder) => {
      return `instance identity ${record.id} (${join(realDir, IDENTITY_FILE)}) is already in use on this host${holder}; was this data dir copied? Remove its ${IDENTITY_FILE} to give it an identity of its own`;
    });
    return {
      id: record.id,
      dataDir: realDir,
      release: () => {
        // Unlinked while still held: a process that opened the old file then finds it
        // replaced and retries (takeLock), so the lock stays exclusive.
        try {
          unlinkSync(identityLockPath);
        } catch {
          // Already gone; the lock is released by the close either way.
        }
        native().closeFd(identityLock);
        native().closeFd(dataLock);
      },
    };
  } catch (error) {
    native().closeFd(dataLock);
    throw error;
  }
}

function readOrCreateIdentity(realDir: string, requestedId: string | undefined): IdentityRecord {
  const file = join(realDir, IDENTITY_FILE);
  if (!existsSync(file)) {
    const record: IdentityRecord = {
      id: requestedId ?? `bistro-${randomBytes(6).toString('hex')}`,
      data_dir: realDir,
      created: new Date().toISOString(),
    };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    return record;
  }
  let record: Partial<IdentityRecord>;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as Partial<IdentityRecord>;
  } catch (error) {
    throw new InstanceIdentityError(`${file}: unreadable instance identity (${(error as Error).message})`);
  }
  if (typeof record.id !== 'string' || instanceIdProblem(record.id) || typeof record.data_dir !== 'string')
    throw new InstanceIdentityError(
      `${file}: expected {"id": ..., "data_dir": ...}; remove the file to start afresh`,
    );
  if (record.data_dir !== realDir) {
    throw new InstanceIdentityError(
      `${file}: this data dir carries the identity ${record.id} of ${record.data_dir}: it was copied or moved. ` +
        `Two data dirs with one identity would recover (kill) each other's tasks. ` +
        `Remove ${file} to give it an identity of its own`,
    );
  }
  if (requestedId !== undefined && requestedId !== record.id) {
    throw new InstanceIdentityError(
      `--instance-id ${requestedId}: data dir ${realDir} already has the identity ${record.id}; ` +
        `its running tasks are recorded under that identity. Remove ${file} to change it`,
    );
  }
  return record as IdentityRecord;
}

/** flock()s `path` and writes our pid into it; throws with `message(" (pid N)")` if held. */
function takeLock(path: string, message: (holder: string) => string): number {
  for (let attempt = 0; ; attempt++) {
    const fd = lockOnce(path, message);
    // The holder may have unlinked the file between our open and our flock: then we hold
    // the lock of a file nobody else will open. Take the lock of the file now at `path`.
    if (sameFile(fd, path) || attempt >= 10) {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
      return fd;
    }
    native().closeFd(fd);
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const held = fstatSync(fd);
    const named = statSync(path);
    return held.ino === named.ino && held.dev === named.dev;
  } catch {
    return false;
  }
}

function lockOnce(path: string, message: (holder: string) => string): number {
  let fd: number;
  try {
    fd = native().lockFile(path);
  } catch (error) {
    throw new InstanceIdentityError(`cannot lock ${path}: ${(error as Error).message}`);
  }
  if (fd < 0) {
    let holder = '';
    try {
      const pid = readFileSync(path, 'utf8').trim();
      if (/^\d+$/.test(pid)) holder = ` (pid ${pid})`;
    } catch {
      // The holder's pid is only for the message.
    }
    throw new InstanceIdentityError(message(holder));
  }
  return fd;
}
