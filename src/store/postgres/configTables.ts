/**
 * The config in PostgreSQL, as tables of raw JSON: one entry per top-level
 * key (`bistro_settings`, `bistro_job->NAME`), each change a numbered
 * version. Entries are kept as the JSON text they were written with, so an
 * export reproduces what was imported. Nothing here parses a config; that
 * is the caller's job (`cluster/databaseConfigLoader.ts`).
 *
 * Versions are issued under the head row's lock (`bistro_write_config`),
 * so they are gapless and committed in order: a reader that has seen
 * version N reads the next changes as `version > N` and misses nothing.
 */
import type { PgPool } from './connection.js';

/** The channel `bistro_write_config` notifies, with the new head version as payload. */
export const CONFIG_CHANNEL = 'bistro_config';

/** A change whose expected version no longer matched (another writer came first). */
const SERIALIZATION_FAILURE = '40001';

export interface ConfigEntryRow {
  readonly key: string;
  /** The parsed JSON value. */
  readonly value: unknown;
  readonly ordinal: number;
  /** The version that wrote it. */
  readonly version: number;
}

export interface ConfigSnapshotRows {
  /** The version the entries are at. */
  readonly head: number;
  readonly entries: readonly ConfigEntryRow[];
}

/** One version in the change feed: `value` undefined means the key was deleted. */
export type ConfigChangeRow = ConfigEntryRow;

export interface ConfigVersionRow {
  readonly version: number;
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly key: string;
  /** The JSON text written; null for a delete. */
  readonly text: string | null;
  readonly previousVersion: number | null;
}

/** One entry to write: `text` null deletes the key. */
export interface ConfigWrite {
  readonly key: string;
  readonly text: string | null;
  /** Position among the entries; undefined keeps an existing entry's, or appends a new one. */
  readonly ordinal?: number;
  /** The entry's version this write was decided on (0: absent); undefined: no check. */
  readonly expectedVersion?: number;
  /** Who asked, and what for (history); default: the batch's. */
  readonly actor?: string;
  readonly action?: string;
}

/** Every entry at one version, in one snapshot. */
export async function readConfigSnapshot(pool: PgPool): Promise<ConfigSnapshotRows> {
  const result = await pool.query<{
    head: string;
    key: string | null;
    value: unknown;
    ordinal: string | null;
    version: string | null;
  }>(
    `SELECT h.version AS head, e.key, e.value, e.ordinal, e.version
       FROM config_head h LEFT JOIN config_entries e ON true
      ORDER BY e.ordinal`,
  );
  const head = Number(result.rows[0]?.head ?? 0);
  const entries = result.rows
    .filter((row) => row.key !== null)
    .map((row) => ({
      key: row.key!,
      value: row.value,
      ordinal: Number(row.ordinal),
      version: Number(row.version),
    }));
  return { head, entries };
}

/** The entries' JSON text as stored, in order. */
export async function readConfigTexts(
  pool: PgPool,
): Promise<{ key: string; text: string; ordinal: number }[]> {
  const result = await pool.query<{ key: string; text: string; ordinal: string }>(
    'SELECT key, value::text AS text, ordinal FROM config_entries ORDER BY ordinal, key',
  );
  return result.rows.map((row) => ({ key: row.key, text: row.text, ordinal: Number(row.ordinal) }));
}

/** The versions after `version`, oldest first (at most `limit`). */
export async function configChangesSince(
  pool: PgPool,
  version: number,
  limit = 50_000,
): Promise<ConfigChangeRow[]> {
  const result = await pool.query<{ version: string; key: string; value: unknown; ordinal: string }>(
    `SELECT version, key, value, ordinal FROM config_versions
      WHERE version > $1 ORDER BY version LIMIT $2`,
    [version, limit],
  );
  return result.rows.map((row) => ({
    version: Number(row.version),
    key: row.key,
    value: row.value ?? undefined,
    ordinal: Number(row.ordinal),
  }));
}

/** One entry as it stands, with its version (0 and undefined: absent). */
export async function readConfigEntry(
  pool: PgPool,
  key: string,
): Promise<{ value: unknown; version: number }> {
  const result = await pool.query<{ value: unknown; version: string }>(
    'SELECT value, version FROM config_entries WHERE key = $1',
    [key],
  );
  const row = result.rows[0];
  return row ? { value: row.value, version: Number(row.version) } : { value: undefined, version: 0 };
}

/** Writes the entries in one transaction as consecutive versions; returns the last version. */
export async function writeConfig(
  pool: PgPool,
  writes: readonly ConfigWrite[],
  actor: string,
  action: string,
): Promise<number> {
  const result = await pool.query<{ head: string }>(
    `SELECT bistro_write_config($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])
         AS head`,
    [
      writes.map((write) => write.key),
      writes.map((write) => write.text),
      writes.map((write) => write.ordinal ?? null),
      writes.map((write) => write.expectedVersion ?? null),
      writes.map((write) => write.actor ?? actor),
      writes.map((write) => write.action ?? action),
    ],
  );
  return Number(result.rows[0]!.head);
}

/** Whether a write failed because its entry changed after it was read. */
export function isConfigConflict(error: unknown): boolean {
  return (error as { code?: unknown }).code === SERIALIZATION_FAILURE;
}

interface StoredVersion {
  version: string;
  at: Date;
  actor: string;
  action: string;
  key: string;
  text: string | null;
  previous_version: string | null;
}

const VERSION_COLUMNS = 'version, at, actor, action, key, value::text AS text, previous_version';

/** The newest versions first, of one key or of all. */
export async function configHistory(
  pool: PgPool,
  key: string | undefined,
  limit: number,
): Promise<ConfigVersionRow[]> {
  const result = await pool.query<StoredVersion>(
    `SELECT ${VERSION_COLUMNS} FROM config_versions
      WHERE $1::text IS NULL OR key = $1
      ORDER BY version DESC LIMIT $2`,
    [key ?? null, limit],
  );
  return result.rows.map(versionRow);
}

/** One version, if it exists. */
export async function configVersion(pool: PgPool, version: number): Promise<ConfigVersionRow | undefined> {
  const result = await pool.query<StoredVersion>(
    `SELECT ${VERSION_COLUMNS} FROM config_versions WHERE version = $1`,
    [version],
  );
  const row = result.rows[0];
  return row && versionRow(row);
}

function versionRow(row: StoredVersion): ConfigVersionRow {
  return {
    version: Number(row.version),
    at: row.at,
    actor: row.actor,
    action: row.action,
    key: row.key,
    text: row.text,
    previousVersion: row.previous_version === null ? null : Number(row.previous_version),
  };
}
