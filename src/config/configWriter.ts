/**
 * `save_job` / `delete_job` on the config file (SPEC §3): an atomic
 * read-modify-write (temp file, fsync, rename) under a lock file, keeping
 * every other key as it was. The change takes effect at the next poll, like
 * any other edit. The writer owns `create_time` / `modify_time`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { JOB_PREFIX, parseConfigJson } from './config.js';
import { ConfigError } from './issues.js';
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
      return stored;
    });
  }

  /** Deletes the job; returns whether it existed. */
  async deleteJob(name: string): Promise<boolean> {
    return this.modify((config) => {
      const key = `${JOB_PREFIX}${name}`;
      const existed = key in config;
      delete config[key];
      return existed;
    });
  }

  /** The job object as it stands in the file, if any. */
  readJob(name: string): Record<string, unknown> | undefined {
    const config = parseConfigJson(readFileSync(this.file, 'utf8'), this.file);
    const job = isPlainObject(config) ? config[`${JOB_PREFIX}${name}`] : undefined;
    return isPlainObject(job) ? job : undefined;
  }

  private async modify<T>(change: (config: Record<string, unknown>) => T): Promise<T> {
    const lock = `${this.file}.lock`;
    await acquire(lock);
    try {
      const config = parseConfigJson(readFileSync(this.file, 'utf8'), this.file);
      if (!isPlainObject(config)) throw new ConfigError(`${this.file}: the config is not a JSON object`);
      const result = change(config);
      const temp = `${this.file}.tmp-${process.pid}`;
      const fd = openSync(temp, 'w', 0o644);
      try {
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
