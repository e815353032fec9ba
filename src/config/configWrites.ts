/**
 * Changes to the config through the API or the CLI, on a file
 * (`configWriter.ts`) or in the database (`cluster/databaseConfigWriter.ts`).
 * Writers own `create_time` and `modify_time`, and run the caller's guard on
 * the entry as it stands inside the write, so a check (say, that `command`
 * did not change) cannot race another writer.
 */
import { isPlainObject } from './reader.js';

export interface WriteContext {
  /** Who asked: a token's name, "api" or "cli". */
  readonly actor: string;
  /** Runs on the job as it stands before the change; throws to refuse it. */
  readonly guard?: (previous: Record<string, unknown> | undefined) => void;
}

export interface ConfigWrites {
  /** Saves `job` under `name`; returns the stored object. */
  saveJob(
    name: string,
    job: Record<string, unknown>,
    context: WriteContext,
  ): Promise<Record<string, unknown>>;
  /** Deletes the job; returns whether it existed. */
  deleteJob(name: string, context: WriteContext): Promise<boolean>;
  /** Replaces `bistro_settings`; throws `ConfigError` (and changes nothing) if they are invalid. */
  saveSettings(settings: Record<string, unknown>, context: WriteContext): Promise<void>;
}

/** The job as stored: the caller's keys, `create_time` kept from the previous version, `modify_time` now. */
export function stampedJob(
  previous: unknown,
  job: Record<string, unknown>,
  nowSec = Math.floor(Date.now() / 1000),
): Record<string, unknown> {
  const { create_time: _c, modify_time: _m, ...rest } = job;
  const createTime =
    isPlainObject(previous) && typeof previous['create_time'] === 'number' ? previous['create_time'] : nowSec;
  return { ...rest, create_time: createTime, modify_time: nowSec };
}
