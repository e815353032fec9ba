/**
 * Lease arithmetic (docs/distributed.md, "Leases"). Every deadline is on
 * this process's own CLOCK_BOOTTIME; no decision compares the clocks of two
 * machines. Clock rate drift up to 1 % is assumed.
 *
 * - A holder's deadline: the send time of its last successful renewal +
 *   ttl − margin. It stops acting (and a worker SIGKILLs its tasks) there.
 * - An observer takes a lease over (or declares a worker lost) only after
 *   seeing its sequence unchanged for ttl (+ grace for workers) on its own clock.
 */
import { native } from '../supervisor/native.js';

export const DEFAULT_LEADER_LEASE_SEC = 15;
export const DEFAULT_WORKER_LEASE_SEC = 30;
export const DEFAULT_KILL_BOUND_SEC = 5;

/** Now, in CLOCK_BOOTTIME milliseconds. */
export function boottimeMs(): number {
  return native().boottimeMs();
}

export function leaderMarginMs(ttlMs: number): number {
  return ttlMs * 0.01 + 200;
}

/** kill_bound + 1 % of ttl + 0.2 s: the tasks are dead before the lease ends. */
export function workerMarginMs(ttlMs: number, killBoundMs: number): number {
  return killBoundMs + ttlMs * 0.01 + 200;
}

/** How long after a worker's lease the leader waits before declaring it lost. */
export function lossGraceMs(killBoundMs: number): number {
  return killBoundMs + 1000;
}

/** Renewals per usable lease: three tries before the deadline, at most every 2 s. */
export function renewIntervalMs(ttlMs: number, marginMs: number): number {
  return Math.max(50, Math.min(2000, (ttlMs - marginMs) / 3));
}

/** Why these lease lengths cannot work, or undefined. */
export function leaseProblem(name: string, ttlMs: number, marginMs: number): string | undefined {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) return `${name} must be a positive number of seconds`;
  if (ttlMs < 2 * marginMs)
    return `${name} (${ttlMs / 1000} s) must be at least twice its safety margin (${(marginMs / 1000).toFixed(2)} s)`;
  return undefined;
}
