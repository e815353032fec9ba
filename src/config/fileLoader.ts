/**
 * Loads the config file and polls it for changes.
 *
 * A change is noticed by mtime, size *or* content hash, so two edits in the
 * same second are not missed. A file that fails to read or parse never
 * replaces the running config: the last good config stays in force and the
 * error is kept for reporting until a good file arrives. In particular a
 * broken file is never mistaken for "all jobs deleted".
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig, parseConfigJson, type Config } from './config.js';
import { readRegularFile } from './regularFile.js';
import { ConfigError } from './issues.js';
import type { ConfigSource, ConfigSourceOptions, ConfigState } from './configSource.js';

export type { ConfigState } from './configSource.js';

export class FileConfigLoader implements ConfigSource {
  readonly file: string;
  private state: ConfigState;
  private fingerprint = '';
  private timer: NodeJS.Timeout | undefined;

  /** Reads the file once; throws `ConfigError` naming the file if it is missing or invalid. */
  constructor(
    file: string,
    private readonly options: ConfigSourceOptions = {},
  ) {
    this.file = resolve(file);
    const read = this.read();
    if (read instanceof ConfigError) throw read;
    this.fingerprint = read.fingerprint;
    this.state = { config: read.config, error: undefined, generation: 1, hash: read.hash };
  }

  get description(): string {
    return this.file;
  }

  current(): ConfigState {
    return this.state;
  }

  /** Checks the file now; returns true if a new good config was accepted. */
  poll(): boolean {
    const read = this.read();
    if (read instanceof ConfigError) {
      const changed = this.state.error?.message !== read.message;
      this.state = { ...this.state, error: read };
      // Forget the fingerprint so the next poll re-reads the file.
      this.fingerprint = '';
      if (changed) this.options.onChange?.(this.state, this.state.config);
      return false;
    }
    if (read.fingerprint === this.fingerprint && this.state.error === undefined) return false;
    this.fingerprint = read.fingerprint;
    const previous = this.state.config;
    this.state = {
      config: read.config,
      error: undefined,
      generation: this.state.generation + 1,
      hash: read.hash,
    };
    this.options.onChange?.(this.state, previous);
    return true;
  }

  start(pollMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.poll(), pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private read(): { config: Config; fingerprint: string; hash: string } | ConfigError {
    let text: string;
    let fingerprint: string;
    let hash: string;
    try {
      const stat = statSync(this.file);
      text = readRegularFile(this.file);
      hash = createHash('sha256').update(text).digest('hex');
      fingerprint = `${stat.mtimeMs}:${stat.size}:${hash}`;
    } catch (error) {
      if (error instanceof ConfigError) return new ConfigError(error.message, [], this.file);
      const reason =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
      return new ConfigError(`${this.file}: cannot read config (${reason})`, [], this.file);
    }
    if (fingerprint === this.fingerprint && this.state !== undefined && this.state.error === undefined) {
      return { config: this.state.config, fingerprint, hash };
    }
    try {
      const config = parseConfig(parseConfigJson(text, this.file), this.options);
      return { config: this.options.check?.(config) ?? config, fingerprint, hash };
    } catch (error) {
      if (error instanceof ConfigError) {
        const message = error.message.startsWith(this.file)
          ? error.message
          : `${this.file}: ${error.message}`;
        return new ConfigError(message, error.issues, this.file);
      }
      throw error;
    }
  }
}
