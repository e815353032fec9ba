/**
 * `save_job` / `delete_job` / `save_settings` on the config file: an atomic read-modify-write
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
import { stampedJob, type ConfigWrites, type WriteContext } from './configWrites.js';
import { assertValidSettings } from './validateFile.js';

const LOCK_WAIT_MS = 5000;

export class ConfigWriter implements ConfigWrites {
  constructor(readonly file: string) {}

  async saveJob(
    name: string,
    job: Record<string, unknown>,
    context: WriteContext,
    nowSec = Math.floor(Date.now() / 1000),
  ): Promise<Record<string, unknown>> {
    return this.modify((config) => {
      const key = `${JOB_PREFIX}${name}`;
      const previous = config[key];
      context.guard?.(isPlainObject(previous) ? previous : undefined);
      const stored = stampedJob(previous, job, nowSec);
      config[key] = stored;
      return { result: stored, changed: true };
    });
  }

  async deleteJob(name: string, context: WriteContext): Promise<boolean> {
    return this.modify((config) => {
      const key = `${JOB_PREFIX}${name}`;
      const previous = config[key];
      const existed = Object.hasOwn(config, key);
      if (existed) context.guard?.(isPlainObject(previous) ? previous : undefined);
      delete config[key];
      return { result: existed, changed: existed };
    });
  }

  async saveSettings(settings: Record<string, unknown>, _context: WriteContext): Promise<void> {
    assertValidSettings(settings);
    return this.modify((config) => {
      config['bistro_settings'] = settings;
      return { result: undefined, changed: true };
    });
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
