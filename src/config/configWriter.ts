/**
 * `save_job` / `delete_job` on the config file: an atomic read-modify-write
 * (temp file, fsync, rename) under a lock file, keeping every other key as
 * it was and the file's mode and owner (a 600 config stays 600). The change takes effect at the next poll, like
 * any other edit. The writer owns `create_time` / `modify_time`.
 */
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { JOB_PREFIX, parseConfigJson } from './config.js';
import { ConfigError } from './issues.js';
import { readRegularFile } from './regularFile.js';
import { isPlainObject } from './reader.js';

const LOCK_WAIT_MS = 5000;

export class ConfigWriter {
  constructor(readonly file: string) {}

  /** Saves `job` under `name`; returns the stored object. */
  async saveJob(
    name: string,
    job: Record<string, unknown>,
    nowSec = Math.floor(Date.now() / 1000),
  ): Promise<Record<string, unknown>> {
    return this.modify((config) => {
      const key = `${JOB_PREFIX}${name}`;
      const previous = config[key];
      const { create_time: _c, modify_time: _m, ...rest } = job;
      const createTime =
        isPlainObject(previous) && typeof previous['create_time'] === 'number'
          ? previous['create_time']
          : nowSec;
      const stored = { ...rest, create_time: createTime, modify_time: nowSec };
      config[key] = stored;
      return { result: stored, changed: true };
    });
  }

  /** Deletes the job; returns whether it existed. */
  async deleteJob(name: string): Promise<boolean> {
    return this.modify((config) => {
      const key = `${JOB_PREFIX}${name}`;
      const existed = Object.hasOwn(config, key);
      delete config[key];
      return { result: existed, changed: existed };
    });
  }

  /** The job object as it stands in the file, if any. */
  readJob(name: string): Record<string, unknown> | undefined {
    const config = parseConfigJson(readRegularFile(this.file), this.file);
    const job = isPlainObject(config) ? config[`${JOB_PREFIX}${name}`] : undefined;
    return isPlainObject(job) ? job : undefined;
  }

  private async modify<T>(
    change: (config: Record<string, unknown>) => { result: T; changed: boolean },
  ): Promise<T> {
    const lock = `${this.file}.lock`;
    await acquire(lock);
    try {
      const original = statSync(this.file);
      const config = parseConfigJson(readRegularFile(this.file), this.file);
      if (!isPlainObject(config)) throw new ConfigError(`${this.file}: the config is not a JSON object`);
      const { result, changed } = change(config);
      if (!changed) return result;
      const temp = `${this.file}.tmp-${process.pid}`;
      const fd = openSync(temp, 'w', original.mode & 0o7777);
      try {
        fchmodSync(fd, original.mode & 0o7777);
        if (process.getuid?.() === 0) fchownSync(fd, original.uid, original.gid);
        writeSync(fd, `${JSON.stringify(config, null, 2)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.file);
      return result;
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

async function acquire(lock: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (Date.now() > deadline)
        throw new ConfigError(`config lock ${lock} is held; remove it if no writer is running`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
