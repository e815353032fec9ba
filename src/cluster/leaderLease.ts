/**
 * Scheduler leadership (docs/distributed.md, "Leadership and fencing").
 *
 * One row holds the lease: holder, `lease_seq`, the term it leads in. The
 * leader renews it with one autocommit UPDATE on a connection of its own,
 * and leads only until the send time of its last successful renewal + ttl −
 * margin (CLOCK_BOOTTIME). A standby watches (holder, lease_seq) on its own
 * clock; unchanged for ttl, it takes the lease in one transaction that
 * increments `leader_term.term` -- which waits for, and then fences out,
 * every write of the old term (each begins with a FOR SHARE lock on the term
 * row). Only after that commit does the new leader load state and schedule.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from '../logging/logger.js';
import { openClient, type ConnectionOptions } from '../store/postgres/connection.js';
import { boottimeMs, leaderMarginMs, renewIntervalMs } from './leaseTiming.js';

/** How often a standby reads the lease row. */
const STANDBY_POLL_MS = 200;

export interface LeaderInfo {
  readonly name: string | null;
  readonly apiUrl: string | null;
  readonly term: number;
}

export interface LeaderLeaseOptions {
  readonly url: string;
  readonly ttlMs: number;
  /** Shown to operators and in the 409 of a standby. */
  readonly holderName: string;
  readonly apiUrl?: string;
  readonly logger: Logger;
  /** The hash of the config this scheduler runs, recorded in the lease row while it leads. */
  readonly configHash: () => string;
  /**
   * Runs after a takeover committed, with the config hash the previous
   * leader recorded; the lease counts as ready once it resolves.
   */
  readonly onLead: (term: number, previousConfigHash: string | null) => Promise<void>;
  /** Runs when leadership ends (the lease expired, was taken, or a fence failed). */
  readonly onStepDown: (reason: string) => void;
  /** Runs at each tick while leading and ready (declaring workers lost). */
  readonly whileLeading?: (term: number) => Promise<void>;
}

export class LeaderLease {
  private readonly holder = randomUUID();
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The tick in progress, if any (stop waits for it). */
  private ticking: Promise<void> | undefined;
  /** Leading in this term (after the takeover committed), else undefined. */
  private leadingTerm: number | undefined;
  private ready = false;
  private deadline = 0;
  private observed: { holder: string | null; seq: string; since: number } | undefined;
  private lastSeen: LeaderInfo | undefined;
  private readonly marginMs: number;
  private readonly intervalMs: number;

  constructor(private readonly options: LeaderLeaseOptions) {
    this.marginMs = leaderMarginMs(options.ttlMs);
    this.intervalMs = renewIntervalMs(options.ttlMs, this.marginMs);
  }

  /** Whether this scheduler leads now: the takeover committed, state is loaded, the lease is fresh. */
  get leads(): boolean {
    return this.leadingTerm !== undefined && this.ready && boottimeMs() < this.deadline;
  }

  /** The term for fenced writes, while leading. */
  get term(): number | undefined {
    return this.leads ? this.leadingTerm : undefined;
  }

  /** The leader as last seen in the database (this scheduler when it leads). */
  leader(): LeaderInfo | undefined {
    if (this.leads)
      return { name: this.options.holderName, apiUrl: this.options.apiUrl ?? null, term: this.leadingTerm! };
    return this.lastSeen;
  }

  start(): void {
    this.run();
  }

  /** A fenced write was refused: another scheduler leads. */
  fencedOut(term: number): void {
    if (this.leadingTerm === term) this.stepDown(`a write of term ${term} was fenced out`);
  }

  /** Stops renewing; a leader gives the lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    const wasLeading = this.leadingTerm !== undefined;
    if (wasLeading) this.stepDown('stopping');
    if (this.client) {
      if (wasLeading)
        await this.client
          .query(
            'UPDATE leader_lease SET holder = NULL, lease_until = now(), lease_seq = lease_seq + 1 WHERE id = 1 AND holder = $1',
            [this.holder],
          )
          .catch(() => undefined);
      await this.client.end().catch(() => undefined);
      this.client = undefined;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    // A standby looks often: it takes over no later than ttl + one look after the last renewal.
    const delay =
      this.leadingTerm !== undefined ? this.intervalMs : Math.min(this.intervalMs, STANDBY_POLL_MS);
    this.timer = setTimeout(() => this.run(), delay);
  }

  private run(): void {
    this.ticking = this.tick().finally(() => {
      this.ticking = undefined;
      this.schedule();
    });
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.leadingTerm !== undefined && boottimeMs() >= this.deadline)
        this.stepDown('the leader lease expired before it could be renewed');
      const client = await this.connection();
      if (this.leadingTerm !== undefined) await this.renew(client);
      else await this.watch(client);
      if (this.leads && this.options.whileLeading) await this.options.whileLeading(this.leadingTerm!);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'leader lease: database unreachable');
      await this.dropConnection();
    }
  }

  private async connection(): Promise<pg.Client> {
    this.client ??= await openClient(this.options.url, {
      queryTimeoutMs: Math.max(1000, this.intervalMs),
      applicationName: 'bistro leader lease',
    } satisfies ConnectionOptions);
    return this.client;
  }

  private async dropConnection(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    // Timers start afresh after a reconnect: what we saw before may be stale.
    this.observed = undefined;
  }

  private async renew(client: pg.Client): Promise<void> {
    const sent = boottimeMs();
    const result = await client.query(
      `UPDATE leader_lease SET lease_seq = lease_seq + 1, lease_until = now() + $3 * interval '1 millisecond',
         config_hash = $4
       WHERE id = 1 AND holder = $1 AND term = $2 RETURNING lease_seq`,
      [this.holder, this.leadingTerm, this.options.ttlMs, this.options.configHash()],
    );
    if (result.rowCount === 0) {
      this.stepDown('another scheduler took the leader lease');
      return;
    }
    this.deadline = sent + this.options.ttlMs - this.marginMs;
  }

  private async watch(client: pg.Client): Promise<void> {
    const now = boottimeMs();
    const row = (
      await client.query<{
        holder: string | null;
        holder_name: string | null;
        api_url: string | null;
        lease_seq: string;
        term: string;
      }>('SELECT holder, holder_name, api_url, lease_seq::text, term::text FROM leader_lease WHERE id = 1')
    ).rows[0]!;
    this.lastSeen = { name: row.holder_name, apiUrl: row.api_url, term: Number(row.term) };
    if (!this.observed || this.observed.holder !== row.holder || this.observed.seq !== row.lease_seq)
      this.observed = { holder: row.holder, seq: row.lease_seq, since: now };
    const expired = row.holder === null || now - this.observed.since >= this.options.ttlMs;
    if (expired) await this.takeOver(client, row.holder, row.lease_seq);
  }

  private async takeOver(client: pg.Client, holder: string | null, seq: string): Promise<void> {
    const sent = boottimeMs();
    let term: number | undefined;
    let previousConfigHash: string | null;
    await client.query('BEGIN');
    try {
      const current = await client.query<{
        holder: string | null;
        lease_seq: string;
        config_hash: string | null;
      }>('SELECT holder, lease_seq::text, config_hash FROM leader_lease WHERE id = 1 FOR UPDATE');
      const row = current.rows[0]!;
      previousConfigHash = row.config_hash;
      if (row.holder === holder && row.lease_seq === seq) {
        const bumped = await client.query<{ term: string }>(
          'UPDATE leader_term SET term = term + 1 WHERE id = 1 RETURNING term::text',
        );
        term = Number(bumped.rows[0]!.term);
        await client.query(
          `UPDATE leader_lease SET holder = $1, holder_name = $2, api_url = $3, lease_seq = lease_seq + 1,
             lease_until = now() + $4 * interval '1 millisecond', term = $5, config_hash = $6 WHERE id = 1`,
          [
            this.holder,
            this.options.holderName,
            this.options.apiUrl ?? null,
            this.options.ttlMs,
            term,
            this.options.configHash(),
          ],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    if (term === undefined) return; // someone renewed or took it meanwhile
    this.leadingTerm = term;
    this.deadline = sent + this.options.ttlMs - this.marginMs;
    this.ready = false;
    this.options.logger.warn(
      { term, previous: this.lastSeen?.name ?? null },
      'leading: took the leader lease',
    );
    try {
      await this.options.onLead(term, previousConfigHash);
      if (this.leadingTerm === term) this.ready = true;
    } catch (error) {
      this.options.logger.error({ err: error }, 'could not load state as the new leader; stepping down');
      this.stepDown('loading state failed');
      throw error;
    }
  }

  private stepDown(reason: string): void {
    if (this.leadingTerm === undefined) return;
    const term = this.leadingTerm;
    this.leadingTerm = undefined;
    this.ready = false;
    this.observed = undefined;
    this.options.logger.warn({ term, reason }, 'standing by: no longer the leader');
    this.options.onStepDown(reason);
  }
}
