/**
 * A worker's lease (docs/distributed.md, "Worker leases"). A scheduler
 * with --database is the worker of its own tasks and holds one too.
 *
 * Each process start registers a new incarnation. Renewal is one
 * autocommit UPDATE on a connection of its own; the lease is lost when no
 * row comes back (the leader declared it lost) or its sequence went
 * backwards. The deadline is the send time of the last successful renewal
 * + ttl − margin, on CLOCK_BOOTTIME; the watchdog is armed with it after
 * every renewal. A little before it, if no renewal succeeded, the worker
 * stops starting tasks, SIGKILLs them (onLost) and tells the watchdog;
 * once the database answers again it registers a new incarnation.
 *
 * At each renewal it also reads its own running-task rows: a task whose
 * row vanished is killed, a kill request recorded by the leader is applied.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../logging/logger.js';
import { PACKAGE_VERSION } from '../logging/buildInfo.js';
import { openClient } from '../store/postgres/connection.js';
import type { Watchdog } from '../supervisor/watchdog.js';
import { boottimeMs, renewIntervalMs, workerMarginMs } from './leaseTiming.js';

/** Before the deadline by this much, a worker whose lease is not renewed kills its tasks itself. */
const SELF_KILL_LEAD_MS = 300;

/** One of this incarnation's running-task rows: a kill request the leader recorded, if any. */
export interface OwnRow {
  readonly invocationId: string;
  readonly killRequest: unknown;
}

export interface WorkerLeaseOptions {
  readonly url: string;
  readonly name: string;
  readonly host: string;
  readonly ttlMs: number;
  readonly killBoundMs: number;
  readonly resources: Record<string, unknown>;
  /** A `bistro worker`: the leader may dispatch tasks to it (a scheduler's own worker takes none). */
  readonly takesDispatch: boolean;
  /** The notification channel this process listens on for its dispatches and kill requests. */
  readonly channel?: string;
  readonly watchdog: Watchdog;
  readonly logger: Logger;
  /** The lease is lost: SIGKILL every task now. */
  readonly onLost: (reason: string) => void;
  /** This incarnation's rows, read at a renewal sent at `sentAt` (CLOCK_BOOTTIME ms). */
  readonly onRows: (rows: readonly OwnRow[], sentAt: number) => void;
}

export class WorkerLease {
  private client: pg.Client | undefined;
  private current: string | undefined;
  private seq = -1n;
  private deadline = 0;
  private timer: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking: Promise<void> | undefined;
  private readonly marginMs: number;
  private readonly intervalMs: number;

  constructor(private readonly options: WorkerLeaseOptions) {
    this.marginMs = workerMarginMs(options.ttlMs, options.killBoundMs);
    this.intervalMs = renewIntervalMs(options.ttlMs, this.marginMs);
  }

  /** The healthy incarnation this worker runs tasks under, if its lease is fresh. */
  get incarnation(): string | undefined {
    return this.current !== undefined && boottimeMs() < this.deadline - SELF_KILL_LEAD_MS
      ? this.current
      : undefined;
  }

  /** Whether a task may start now: a fresh lease the watchdog has acknowledged. */
  mayStart(): boolean {
    const now = boottimeMs();
    return this.incarnation !== undefined && this.options.watchdog.mayStart(now);
  }

  /** Registers the first incarnation (throws if the database cannot be reached) and starts renewing. */
  async start(): Promise<void> {
    await this.register(await this.connection());
    this.schedule();
  }

  /** Marks the incarnation stopped (only once it runs nothing) and stops renewing. */
  async stop(hasLiveTasks: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.expiry) clearTimeout(this.expiry);
    await this.ticking;
    if (this.client && this.current !== undefined && !hasLiveTasks) {
      await this.client
        .query(
          `UPDATE workers SET state = 'stopped', lease_until = now() WHERE incarnation = $1 AND state = 'healthy'
             AND NOT EXISTS (SELECT 1 FROM running_tasks WHERE incarnation = $1)`,
          [this.current],
        )
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'could not deregister the worker'),
        );
    }
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        this.schedule();
      });
    }, this.intervalMs);
  }

  private async tick(): Promise<void> {
    try {
      const client = await this.connection();
      if (this.current === undefined) await this.register(client);
      else await this.renew(client);
    } catch (error) {
      this.options.logger.warn(
        { err: error, incarnation: this.current },
        'worker lease: database unreachable',
      );
      const client = this.client;
      this.client = undefined;
      await client?.end().catch(() => undefined);
    }
  }

  private async connection(): Promise<pg.Client> {
    this.client ??= await openClient(this.options.url, {
      queryTimeoutMs: Math.max(1000, this.intervalMs),
      applicationName: `bistro worker ${this.options.name}`,
    });
    return this.client;
  }

  private async register(client: pg.Client): Promise<void> {
    const incarnation = randomUUID();
    const sent = boottimeMs();
    const result = await client.query<{ lease_seq: string }>(
      `INSERT INTO workers (incarnation, name, host, pid, version, state, kill_bound_ms, lease_ms, resources, takes_dispatch, channel, lease_seq, lease_until)
       VALUES ($1, $2, $3, $4, $5, 'healthy', $6, $7::int, $8, $9, $10, 1, now() + $7::int * interval '1 millisecond')
       RETURNING lease_seq::text`,
      [
        incarnation,
        this.options.name,
        this.options.host,
        process.pid,
        PACKAGE_VERSION,
        this.options.killBoundMs,
        this.options.ttlMs,
        JSON.stringify(this.options.resources),
        this.options.takesDispatch,
        this.options.channel ?? null,
      ],
    );
    this.current = incarnation;
    this.seq = BigInt(result.rows[0]!.lease_seq);
    await this.renewed(sent);
    this.options.logger.info({ incarnation, worker: this.options.name }, 'worker registered');
  }

  private async renew(client: pg.Client): Promise<void> {
    const incarnation = this.current!;
    const sent = boottimeMs();
    const result = await client.query<{ lease_seq: string }>(
      `UPDATE workers SET lease_seq = lease_seq + 1, lease_until = now() + $2 * interval '1 millisecond'
       WHERE incarnation = $1 AND state = 'healthy' RETURNING lease_seq::text`,
      [incarnation, this.options.ttlMs],
    );
    const seq = result.rows[0] ? BigInt(result.rows[0].lease_seq) : undefined;
    if (seq === undefined || seq <= this.seq) {
      this.lose(
        seq === undefined ? 'the leader declared this worker lost' : 'the lease sequence went backwards',
      );
      return;
    }
    if (incarnation !== this.current) return;
    this.seq = seq;
    await this.renewed(sent);
    const rows = await client.query<{ invocation_id: string; kill_request: unknown }>(
      'SELECT invocation_id, kill_request FROM running_tasks WHERE incarnation = $1',
      [incarnation],
    );
    if (incarnation === this.current)
      this.options.onRows(
        rows.rows.map((row) => ({ invocationId: row.invocation_id, killRequest: row.kill_request })),
        sent,
      );
  }

  private async renewed(sent: number): Promise<void> {
    this.deadline = sent + this.options.ttlMs - this.marginMs;
    await this.options.watchdog.arm(this.deadline);
    if (this.expiry) clearTimeout(this.expiry);
    const incarnation = this.current;
    this.expiry = setTimeout(
      () => {
        if (this.current === incarnation) this.lose('the worker lease could not be renewed in time');
      },
      Math.max(0, this.deadline - SELF_KILL_LEAD_MS - boottimeMs()),
    );
  }

  private lose(reason: string): void {
    if (this.current === undefined) return;
    const incarnation = this.current;
    this.current = undefined;
    this.seq = -1n;
    if (this.expiry) clearTimeout(this.expiry);
    this.options.logger.error({ incarnation, reason }, 'worker lease lost: killing every task');
    this.options.onLost(reason);
    this.options.watchdog.disarm();
  }
}
