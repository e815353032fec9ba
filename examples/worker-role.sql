-- A PostgreSQL role per bistro worker, confined to its own rows by row-level
-- security. Run it as the role the schedulers use (the tables' owner, which
-- row-level security does not restrict), once per worker, with psql:
--
--   psql "$BISTRO_DATABASE_URL" -v worker=w1 -f examples/worker-role.sql
--   psql "$BISTRO_DATABASE_URL" -c '\password w1'
--
-- The worker then runs with --worker-name w1 and a URL naming user w1 (its
-- password in ~/.pgpass, TLS with sslmode=verify-full). The schema must be
-- current (`bistro db migrate` as the owner): a worker cannot change it.

\set ON_ERROR_STOP on

-- The shared part: a group role and the policies, made once.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bistro_workers') THEN
    CREATE ROLE bistro_workers NOLOGIN;
  END IF;
END $$;

GRANT SELECT ON bistro_schema TO bistro_workers;
GRANT SELECT, INSERT, UPDATE ON workers TO bistro_workers;
GRANT SELECT, UPDATE, DELETE ON running_tasks TO bistro_workers;
GRANT SELECT, INSERT, UPDATE ON statuses TO bistro_workers;
GRANT INSERT ON task_logs TO bistro_workers;
GRANT SELECT, UPDATE ON task_log_clock TO bistro_workers;

ALTER TABLE workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE running_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE statuses ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_logs ENABLE ROW LEVEL SECURITY;

-- Its own incarnations only (the worker name is the role name).
DROP POLICY IF EXISTS bistro_worker_own ON workers;
CREATE POLICY bistro_worker_own ON workers TO bistro_workers
  USING (name = current_user) WITH CHECK (name = current_user);

-- Rows dispatched to its incarnations only: claim, read kill requests, complete.
DROP POLICY IF EXISTS bistro_worker_own ON running_tasks;
CREATE POLICY bistro_worker_own ON running_tasks TO bistro_workers
  USING (incarnation IN (SELECT incarnation FROM workers WHERE name = current_user));

-- A status only for a (job, node) it runs (its completion statement still sees the row it deletes).
DROP POLICY IF EXISTS bistro_worker_runs ON statuses;
CREATE POLICY bistro_worker_runs ON statuses TO bistro_workers
  USING (EXISTS (SELECT 1 FROM running_tasks r WHERE r.job = statuses.job AND r.node = statuses.node))
  WITH CHECK (EXISTS (SELECT 1 FROM running_tasks r WHERE r.job = statuses.job AND r.node = statuses.node));

-- Task log lines under its own name only.
DROP POLICY IF EXISTS bistro_worker_lines ON task_logs;
CREATE POLICY bistro_worker_lines ON task_logs FOR INSERT TO bistro_workers
  WITH CHECK (worker = current_user);

-- The worker's own role.
SELECT format('CREATE ROLE %I LOGIN IN ROLE bistro_workers', :'worker')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'worker') \gexec
