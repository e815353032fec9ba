/**
 * A throw-away PostgreSQL cluster for one test file: initdb in a temp dir
 * (trust auth, fsync off), listening on 127.0.0.1 at a free port, run as
 * the `postgres` user (the server refuses root). `stop()` ends it and
 * removes the directory; `restart()` is `pg_ctl -m immediate` then start.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './http.js';

function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0]!, 'bin') : undefined;
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  if (postgresBin() === undefined)
    return "Debian's postgresql package is not installed (.ci/run installs it)";
  return undefined;
}

/** Makes term 1 current and registers a healthy worker `incarnation`: what a leader with a worker lease has. */
export async function leadWithWorker(pool: pg.Pool, incarnation: string): Promise<void> {
  await pool.query('UPDATE leader_term SET term = 1');
  await pool.query(
    `INSERT INTO workers (incarnation, name, host, pid, version, state, kill_bound_ms, lease_ms)
     VALUES ($1, 'test', 'test', 1, 'test', 'healthy', 1000, 10000)`,
    [incarnation],
  );
}

/** A scheduler's flags for a shared database: its worker name and short leases, as tests use them. */
export function clusterArgs(url: string, name: string, leases: { leader: number; worker: number }): string[] {
  return [
    '--database',
    url,
    '--worker-name',
    name,
    '--leader-lease-sec',
    String(leases.leader),
    '--worker-lease-sec',
    String(leases.worker),
    '--kill-bound-sec',
    '0.5',
  ];
}

export class PostgresCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    /** Also listen on every address, for hosts in network namespaces (10.231.0.0/16). */
    private readonly forNamespaces: boolean,
  ) {}

  static async start(options: { forNamespaces?: boolean } = {}): Promise<PostgresCluster> {
    const bin = postgresBin();
    if (!bin) throw new Error(postgresUnavailable());
    const dir = mkdtempSync(join(tmpdir(), 'bistro-pg-'));
    chmodSync(dir, 0o777);
    const port = await freePort();
    const cluster = new PostgresCluster(dir, port, bin, options.forNamespaces ?? false);
    cluster.asPostgres('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    if (cluster.forNamespaces)
      appendFileSync(join(cluster.dataDir, 'pg_hba.conf'), 'host all all 10.231.0.0/16 trust\n');
    await cluster.startServer();
    return cluster;
  }

  /** The URL of database `name` as a host at `address` reaches it. */
  urlVia(address: string, name: string): string {
    return `postgres://postgres@${address}:${this.port}/${name}`;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** A fresh database on this cluster; its URL. */
  async createDatabase(name: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  /** Drops a database made by createDatabase (closing what is still connected to it). */
  async dropDatabase(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }

  async startServer(): Promise<void> {
    this.asPostgres('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-w',
      '-o',
      `-p ${this.port} -c listen_addresses=${this.forNamespaces ? "'*'" : '127.0.0.1'} -c unix_socket_directories=${this.dir} -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=200`,
      'start',
    ]);
  }

  /** Stops the server at once (a crash as far as clients can tell). */
  stopServer(mode: 'immediate' | 'fast' = 'immediate'): void {
    this.asPostgres('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', 'stop']);
  }

  async restart(): Promise<void> {
    this.stopServer('immediate');
    await this.startServer();
  }

  async stop(): Promise<void> {
    try {
      this.stopServer('immediate');
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private asPostgres(tool: string, args: readonly string[]): void {
    execFileSync('runuser', ['-u', 'postgres', '--', join(this.bin, tool), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: this.dir,
    });
  }
}
