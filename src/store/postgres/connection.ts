/**
 * Connections to PostgreSQL. The URL comes from `--database`, else
 * `BISTRO_DATABASE_URL`; libpq's PG* variables fill in whatever the URL
 * leaves out (node-postgres reads them). Every connection runs with
 * `synchronous_commit = on`, bounded idle transactions, TCP keepalives and a
 * client-side deadline per query, so a dead server or network shows up as
 * an error within a bounded time rather than a hang.
 *
 * PgBouncer in transaction mode is not supported: it breaks LISTEN and
 * session settings.
 */
import { userInfo } from 'node:os';
import pg from 'pg';

// Like libpq, the user defaults to the OS user (node-postgres reads only $USER, unset under some service managers).
pg.defaults.user ??= userInfo().username;

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient | pg.Client;

/** A database failure, naming what was being done. */
export class DatabaseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseError';
  }
}

export interface ConnectionOptions {
  /** Upper bound on any one query, client side (ms). */
  readonly queryTimeoutMs: number;
  /** Pool size. */
  readonly max?: number;
  readonly applicationName?: string;
}

/** The database URL from the flag or the environment; undefined = embedded SQLite. */
export function databaseUrlFrom(flag: string | undefined, env = process.env): string | undefined {
  const url = flag ?? env.BISTRO_DATABASE_URL;
  return url === undefined || url === '' ? undefined : url;
}

function clientConfig(url: string, options: ConnectionOptions): pg.ClientConfig {
  const timeout = Math.max(1000, Math.round(options.queryTimeoutMs));
  return {
    // What the URL leaves out, node-postgres takes from libpq's PG* variables.
    connectionString: url,
    application_name: options.applicationName ?? 'bistro',
    connectionTimeoutMillis: timeout,
    query_timeout: timeout,
    statement_timeout: timeout,
    lock_timeout: timeout,
    idle_in_transaction_session_timeout: timeout,
    keepAlive: true,
    keepAliveInitialDelayMillis: Math.min(10_000, timeout),
    // A startup parameter, so it holds before the first query (no racing SET on a fresh connection).
    options: '-c synchronous_commit=on',
  };
}

export function openPool(url: string, options: ConnectionOptions): PgPool {
  const pool = new pg.Pool({ ...clientConfig(url, options), max: options.max ?? 4 });
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  // An idle client that dies (server restart) is dropped by the pool; its error must not crash us.
  pool.on('error', () => undefined);
  return pool;
}

/** One connection of its own (lease renewals must not wait behind the pool). */
export async function openClient(url: string, options: ConnectionOptions): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(url, options));
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/**
 * A statement of the task hot path as a named prepared statement: each
 * connection parses and plans it once instead of at every execution (the
 * completion's planning alone cost PostgreSQL more than its execution).
 */
export function prepared(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return { name, text, values };
}

/** Runs `work` in a transaction on a pooled connection; rolls back on any error. */
export async function inTransaction<T>(
  pool: PgPool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Whether an error is the database being unreachable (as opposed to a refused statement). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // Class 08: connection exceptions; 57P0x: the server is shutting down or restarting.
    if (code.startsWith('08') || code.startsWith('57P')) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'].includes(code))
      return true;
  }
  const message = String((error as Error)?.message ?? '');
  return /timeout|terminat|Connection|connect/i.test(message);
}
