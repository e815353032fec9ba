/**
 * The PostgreSQL schema, as versioned migrations. Each start applies the
 * missing ones in one transaction under a transaction-level advisory lock,
 * so several schedulers and workers starting together migrate once; a
 * database whose schema is newer than this program is refused.
 *
 * Tables (DISTRIBUTED CONTRACT in docs/distributed.md):
 * - `leader_term` and `leader_lease`: one row each; separate rows so lease
 *   renewals never wait behind fenced writes.
 * - `workers`: one row per worker incarnation (a new id per process start).
 * - `running_tasks`: the live invocations; unique (job, node).
 * - `statuses`: the last status of every (job, node).
 * - `task_logs` and `task_log_clock`: stdout, stderr and events; the clock
 *   row is locked by every writing transaction, so line ids are issued in
 *   commit order and a tailer never skips a row that committed late.
 * - `config_head`, `config_entries`, `config_versions`: the shared config
 *   (settings and jobs by top-level key, as JSON text) and its history.
 */
import type pg from 'pg';
import { DatabaseError, inTransaction, type PgPool } from './connection.js';

/** Arbitrary, fixed: the advisory lock key of schema changes. */
const MIGRATION_LOCK_KEY = 0x6269737472; // "bistr"

export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE bistro_schema (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL);
   INSERT INTO bistro_schema VALUES (1, 0);
   CREATE TABLE leader_term (id int PRIMARY KEY CHECK (id = 1), term bigint NOT NULL);
   INSERT INTO leader_term VALUES (1, 0);
   CREATE TABLE leader_lease (
     id int PRIMARY KEY CHECK (id = 1),
     holder text,
     holder_name text,
     api_url text,
     lease_seq bigint NOT NULL DEFAULT 0,
     lease_until timestamptz,
     term bigint NOT NULL DEFAULT 0,
     config_hash text
   );
   INSERT INTO leader_lease (id) VALUES (1);
   CREATE TABLE workers (
     incarnation text PRIMARY KEY,
     name text NOT NULL,
     host text NOT NULL,
     pid int NOT NULL,
     version text NOT NULL,
     started_at timestamptz NOT NULL DEFAULT now(),
     lease_seq bigint NOT NULL DEFAULT 0,
     lease_until timestamptz,
     state text NOT NULL CHECK (state IN ('healthy', 'lost', 'stopped')),
     kill_bound_ms int NOT NULL,
     lease_ms int NOT NULL,
     resources jsonb NOT NULL DEFAULT '{}'
   );
   CREATE INDEX workers_state_idx ON workers (state);
   CREATE TABLE running_tasks (
     invocation_id text PRIMARY KEY,
     job text NOT NULL,
     node text NOT NULL,
     incarnation text NOT NULL REFERENCES workers (incarnation),
     term bigint NOT NULL,
     state text NOT NULL CHECK (state IN ('dispatched', 'running', 'kill_requested')),
     kill_request jsonb,
     start_time double precision NOT NULL,
     charges jsonb NOT NULL,
     backoff jsonb NOT NULL,
     worker_shard text NOT NULL,
     pid int,
     pid_start_time bigint,
     UNIQUE (job, node)
   );
   CREATE INDEX running_tasks_incarnation_idx ON running_tasks (incarnation);
   CREATE TABLE statuses (
     job text NOT NULL,
     node text NOT NULL,
     bits int NOT NULL,
     time double precision NOT NULL,
     backoff_sec int NOT NULL,
     progress_sec int NOT NULL,
     data text,
     PRIMARY KEY (job, node)
   );
   CREATE TABLE task_log_clock (id int PRIMARY KEY CHECK (id = 1), last_id bigint NOT NULL);
   INSERT INTO task_log_clock VALUES (1, 0);
   CREATE TABLE task_logs (
     kind text NOT NULL CHECK (kind IN ('stdout', 'stderr', 'statuses')),
     line_id bigint NOT NULL,
     job text NOT NULL,
     node text NOT NULL,
     line text NOT NULL,
     PRIMARY KEY (kind, line_id)
   );
   CREATE INDEX task_logs_job_node_idx ON task_logs (kind, job, node, line_id);`,
  // Remote workers: which incarnations take dispatched tasks (a `bistro worker`,
  // not a scheduler running its own), what a worker needs to run a dispatched
  // task, when it was dispatched (dispatch latency), and which worker wrote
  // each log line.
  `ALTER TABLE workers ADD COLUMN takes_dispatch boolean NOT NULL DEFAULT false;
   ALTER TABLE running_tasks ADD COLUMN spec jsonb,
     ADD COLUMN dispatched_at timestamptz NOT NULL DEFAULT clock_timestamp();
   CREATE INDEX running_tasks_claim_idx ON running_tasks (incarnation) WHERE state = 'dispatched';
   ALTER TABLE task_logs ADD COLUMN worker text;`,
  // Appending task log lines in one round trip: the clock row is locked and
  // advanced, and ids issued, inside the statement (as the client did in five).
  `CREATE FUNCTION bistro_append_task_logs(
     kinds text[], jobs text[], nodes text[], lines text[], seconds bigint[], writer text)
   RETURNS void LANGUAGE plpgsql AS $$
   DECLARE
     last bigint;
     ids bigint[] := ARRAY[]::bigint[];
     candidate bigint;
   BEGIN
     SELECT last_id INTO last FROM task_log_clock WHERE id = 1 FOR UPDATE;
     FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
       candidate := seconds[i] << 32;
       last := CASE WHEN candidate > last THEN candidate ELSE last + 1 END;
       ids := ids || last;
     END LOOP;
     INSERT INTO task_logs (kind, line_id, job, node, line, worker)
       SELECT k, id, j, n, l, writer FROM unnest(kinds, ids, jobs, nodes, lines) AS v(k, id, j, n, l);
     UPDATE task_log_clock SET last_id = last WHERE id = 1;
   END $$;`,
  // The config in the database (--config-in-database): the entries in force,
  // every change as a numbered version, and one function that writes a batch
  // of entries (each with its writer and action) under the head row's lock, so versions are issued gapless and
  // in commit order, and notifies the schedulers.
  `CREATE TABLE config_head (id int PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
   INSERT INTO config_head VALUES (1, 0);
   CREATE TABLE config_entries (
     key text PRIMARY KEY,
     value json NOT NULL,
     version bigint NOT NULL,
     ordinal bigint NOT NULL
   );
   CREATE TABLE config_versions (
     version bigint PRIMARY KEY,
     at timestamptz NOT NULL DEFAULT clock_timestamp(),
     actor text NOT NULL,
     action text NOT NULL,
     key text NOT NULL,
     value json,
     ordinal bigint NOT NULL,
     previous_version bigint
   );
   CREATE INDEX config_versions_key_idx ON config_versions (key, version);
   CREATE FUNCTION bistro_write_config(
     keys text[], vals text[], ordinals bigint[], expected bigint[], whos text[], whats text[])
   RETURNS bigint LANGUAGE plpgsql AS $$
   DECLARE
     head bigint;
     found_version bigint;
     found_ordinal bigint;
     place bigint;
   BEGIN
     SELECT version INTO head FROM config_head WHERE id = 1 FOR UPDATE;
     FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
       found_version := NULL;
       found_ordinal := NULL;
       SELECT version, ordinal INTO found_version, found_ordinal FROM config_entries WHERE key = keys[i];
       IF expected[i] IS NOT NULL AND coalesce(found_version, 0) <> expected[i] THEN
         RAISE EXCEPTION 'config entry % changed meanwhile (version %, expected %)',
           keys[i], coalesce(found_version, 0), expected[i] USING ERRCODE = 'serialization_failure';
       END IF;
       head := head + 1;
       place := coalesce(ordinals[i], found_ordinal, head);
       IF vals[i] IS NULL THEN
         DELETE FROM config_entries WHERE key = keys[i];
       ELSE
         INSERT INTO config_entries (key, value, version, ordinal) VALUES (keys[i], vals[i]::json, head, place)
           ON CONFLICT (key) DO UPDATE
           SET value = excluded.value, version = excluded.version, ordinal = excluded.ordinal;
       END IF;
       INSERT INTO config_versions (version, actor, action, key, value, ordinal, previous_version)
         VALUES (head, whos[i], whats[i], keys[i], vals[i]::json, place, found_version);
     END LOOP;
     UPDATE config_head SET version = head WHERE id = 1;
     PERFORM pg_notify('bistro_config', head::text);
     RETURN head;
   END $$;`,
  // Each worker process listens on a channel of its own: a dispatch or kill
  // wakes only the worker it is for, not every worker of the fleet. NULL (a
  // worker of an older version) means the shared `bistro_dispatch`.
  `ALTER TABLE workers ADD COLUMN channel text;`,
  // A claim or kill request changes a row's `state`, the predicate of the
  // claim index: that made each a non-HOT update, new entries in every index
  // of the table. Without it they are HOT (room is left in each page for
  // the new version), and the incarnation index finds a worker's few rows.
  `DROP INDEX running_tasks_claim_idx;
   ALTER TABLE running_tasks SET (fillfactor = 50);`,
];

export class SchemaTooNewError extends DatabaseError {
  constructor(found: number, known: number) {
    super(
      `the database's schema is version ${found}, newer than this program understands (${known}); upgrade bistro`,
    );
    this.name = 'SchemaTooNewError';
  }
}

async function schemaVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query<{ present: boolean }>(
    "SELECT to_regclass('bistro_schema') IS NOT NULL AS present",
  );
  if (!exists.rows[0]!.present) return 0;
  const row = await client.query<{ version: number }>('SELECT version FROM bistro_schema WHERE id = 1');
  return row.rows[0]?.version ?? 0;
}

/** Applies the missing migrations; returns [version before, version after]. */
export async function migrate(pool: PgPool): Promise<{ from: number; to: number }> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    const from = await schemaVersion(client);
    if (from > MIGRATIONS.length) throw new SchemaTooNewError(from, MIGRATIONS.length);
    for (let version = from; version < MIGRATIONS.length; version++) {
      await client.query(MIGRATIONS[version]!);
      await client.query('UPDATE bistro_schema SET version = $1 WHERE id = 1', [version + 1]);
    }
    return { from, to: MIGRATIONS.length };
  });
}
