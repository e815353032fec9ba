/**
 * Changes to the config every scheduler on a database shares: `save_job`,
 * `delete_job` and `save_settings` from the API, and import, export and
 * rollback from the CLI. Each change is one transaction that writes the
 * entry, records the version (who, when, what it replaced) and notifies the
 * schedulers. A write decided on an entry that changed meanwhile is retried
 * on the new one, so the caller's guard always judged what it replaces.
 * Settings are validated as `bistro validate` does; an invalid one changes
 * nothing. A job with errors is kept with them, as in a file.
 */
import { analyzeConfig, JOB_PREFIX, jobIssues } from '../config/config.js';
import { entryText, joinConfigText, splitConfigText } from '../config/configText.js';
import { stampedJob, type ConfigWrites, type WriteContext } from '../config/configWrites.js';
import { ConfigError, formatKeyPath } from '../config/issues.js';
import { isPlainObject } from '../config/reader.js';
import { assertValidSettings, settingsProblems } from '../config/validateFile.js';
import { summarizeIssues } from '../config/settings.js';
import {
  configHistory,
  configVersion,
  isConfigConflict,
  readConfigEntry,
  readConfigTexts,
  writeConfig,
  type ConfigWrite,
} from '../store/postgres/configTables.js';
import type { PgPool } from '../store/postgres/connection.js';

const SETTINGS_KEY = 'bistro_settings';
/** Attempts of a write whose entry keeps changing under it. */
const MAX_ATTEMPTS = 5;

export interface ImportReport {
  readonly version: number;
  readonly written: number;
  readonly deleted: number;
  readonly unchanged: number;
  /** Jobs imported with errors (kept, as in a file; they start no task): each problem with its key path. */
  readonly jobProblems: readonly string[];
}

/** What a writer may decide on before reading: an entry as a loader last saw it (version 0: absent). */
export type KnownEntry = (key: string) => { value: unknown; version: number };

export class DatabaseConfigWriter implements ConfigWrites {
  /**
   * With `known` (the scheduler's loader), a change is first decided on the
   * entry as the loader saw it, in one round trip; the write's version check
   * catches a stale view, and the retry reads the entry.
   */
  private readonly batcher: WriteBatcher;

  constructor(
    private readonly pool: PgPool,
    private readonly known?: KnownEntry,
  ) {
    this.batcher = new WriteBatcher(pool);
  }

  async saveJob(
    name: string,
    job: Record<string, unknown>,
    context: WriteContext,
  ): Promise<Record<string, unknown>> {
    let stored: Record<string, unknown> = {};
    await this.change(`${JOB_PREFIX}${name}`, context, (previous) => {
      stored = stampedJob(previous, job);
      return entryText(stored);
    });
    return stored;
  }

  async deleteJob(name: string, context: WriteContext): Promise<boolean> {
    let existed = false;
    await this.change(`${JOB_PREFIX}${name}`, context, (_previous, exists) => {
      existed = exists;
      return exists ? null : undefined;
    });
    return existed;
  }

  async saveSettings(settings: Record<string, unknown>, context: WriteContext): Promise<void> {
    assertValidSettings(settings);
    await writeConfig(this.pool, [{ key: SETTINGS_KEY, text: entryText(settings) }], context.actor, 'save');
  }

  /**
   * Makes the database's config the file's: every entry as written in the
   * file (its text kept), in file order, and no other. Refused, changing
   * nothing, if the file's settings are invalid.
   */
  async importText(text: string, file: string, actor: string): Promise<ImportReport> {
    const entries = splitConfigText(text, file);
    const settings = entries.find((entry) => entry.key === SETTINGS_KEY);
    const problems = settingsProblems(settings && JSON.parse(settings.text));
    if (problems.length > 0)
      throw new ConfigError(`${file}: Invalid config: ${summarizeIssues(problems)}`, problems, file);
    const current = new Map((await readConfigTexts(this.pool)).map((row) => [row.key, row]));
    const writes: ConfigWrite[] = [];
    entries.forEach((entry, index) => {
      const now = current.get(entry.key);
      // The entries end with ordinals 1..n in file order. Each is at most the number of versions
      // ever written, so an entry added later (ordinal: its version) sorts after them.
      if (now?.text !== entry.text || now.ordinal !== index + 1)
        writes.push({ key: entry.key, text: entry.text, ordinal: index + 1 });
    });
    const keys = new Set(entries.map((entry) => entry.key));
    const deletions = [...current.keys()].filter((key) => !keys.has(key));
    for (const key of deletions) writes.push({ key, text: null });
    const version = writes.length > 0 ? await writeConfig(this.pool, writes, actor, 'import') : 0;
    return {
      version,
      written: writes.length - deletions.length,
      deleted: deletions.length,
      unchanged: entries.length - (writes.length - deletions.length),
      jobProblems: jobIssues(analyzeConfig(JSON.parse(text))).map(
        (issue) => `${formatKeyPath(issue.path)}: ${issue.message}`,
      ),
    };
  }

  /** The config as a file: the entries' stored text, in order. */
  async exportText(): Promise<string> {
    return joinConfigText(await readConfigTexts(this.pool));
  }

  /** Restores the entry a version wrote (or deletes it, if that version deleted it); returns the new version. */
  async rollback(version: number, actor: string): Promise<{ key: string; version: number }> {
    const target = await configVersion(this.pool, version);
    if (!target) throw new ConfigError(`there is no config version ${version}`);
    if (target.key === SETTINGS_KEY) {
      if (target.text === null)
        throw new ConfigError(`version ${version} deleted bistro_settings; nothing to restore`);
      assertValidSettings(JSON.parse(target.text));
    }
    const written = await writeConfig(
      this.pool,
      [{ key: target.key, text: target.text }],
      actor,
      `rollback to ${version}`,
    );
    return { key: target.key, version: written };
  }

  /**
   * Undoes the latest change to one entry (a job, or `bistro_settings`):
   * restores what the version it replaced wrote, or deletes the entry if it
   * did not exist before. Returns the version restored (0: the entry was
   * deleted) and the new version.
   */
  async undoLatest(key: string, actor: string): Promise<{ restored: number; version: number }> {
    const [latest] = await configHistory(this.pool, key, 1);
    if (!latest) throw new ConfigError(`${key} has no recorded change to undo`);
    if (latest.previousVersion !== null) {
      const { version } = await this.rollback(latest.previousVersion, actor);
      return { restored: latest.previousVersion, version };
    }
    if (key === SETTINGS_KEY)
      throw new ConfigError('bistro_settings did not exist before; nothing to restore');
    const version = await writeConfig(
      this.pool,
      [{ key, text: null }],
      actor,
      `rollback to before ${latest.version}`,
    );
    return { restored: 0, version };
  }

  /**
   * Reads the entry, lets `decide` compute its new text (null: delete,
   * undefined: no change) after the guard approved, and writes it only if
   * the entry is still the one read.
   */
  private async change(
    key: string,
    context: WriteContext,
    decide: (previous: Record<string, unknown> | undefined, exists: boolean) => string | null | undefined,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { value, version } =
        attempt === 1 && this.known ? this.known(key) : await readConfigEntry(this.pool, key);
      const previous = isPlainObject(value) ? value : undefined;
      context.guard?.(previous);
      const text = decide(previous, version > 0);
      if (text === undefined) return;
      try {
        await this.batcher.write({
          key,
          text,
          expectedVersion: version,
          actor: context.actor,
          action: text === null ? 'delete' : 'save',
        });
        return;
      } catch (error) {
        if (!isConfigConflict(error) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }
}

/** Most single-entry writes committed together. */
const MAX_BATCH = 500;

/**
 * Group commit for single-entry writes: those that arrive while a
 * transaction is in flight go together in the next one, so a stream of
 * `save_job` calls costs one commit (and one turn of the head lock) per
 * batch instead of per job. One stale entry fails its batch; the batch is
 * then written entry by entry, so only that entry's writer retries.
 */
class WriteBatcher {
  private readonly waiting: {
    readonly write: ConfigWrite;
    readonly resolve: (version: number) => void;
    readonly reject: (error: unknown) => void;
  }[] = [];
  private busy = false;

  constructor(private readonly pool: PgPool) {}

  /** Resolves with the version the write became. */
  write(write: ConfigWrite): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ write, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.waiting.length > 0) await this.writeBatch(this.waiting.splice(0, MAX_BATCH));
    } finally {
      this.busy = false;
    }
  }

  private async writeBatch(batch: WriteBatcher['waiting']): Promise<void> {
    try {
      const head = await writeConfig(
        this.pool,
        batch.map((waiting) => waiting.write),
        'api',
        'save',
      );
      batch.forEach((waiting, index) => waiting.resolve(head - (batch.length - 1 - index)));
    } catch (error) {
      if (batch.length === 1 || !isConfigConflict(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      for (const waiting of batch) await this.writeBatch([waiting]);
    }
  }
}
