/**
 * Per-task log quotas: a token bucket of
 * `max_log_lines_per_poll_interval` lines, refilled by that much every
 * `poll_ms`. When a task's quota runs out its pipes are paused -- the task
 * blocks on write, nothing is dropped -- until enough time has passed.
 *
 * Refills are computed from elapsed time when lines arrive; the one shared
 * timer runs only while some task is throttled.
 */

export interface ThrottledStreams {
  pause(): void;
  resume(): void;
}

export interface LogQuota {
  /** Spends one line per call; returns false when the quota is exhausted (pause now). */
  spend(lines: number): boolean;
  /** Stops tracking (task complete). */
  dispose(): void;
}

interface Bucket {
  tokens: number;
  lastRefill: number;
  readonly perInterval: number;
  readonly intervalMs: number;
  readonly streams: ThrottledStreams;
  throttled: boolean;
}

export class LogRateLimiter {
  private readonly throttled = new Set<Bucket>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** Lines that had to wait for a refill: the backpressure figure for metrics. */
  throttleEvents = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A quota for one task; `perInterval` <= 0 means unlimited. */
  quota(perInterval: number, intervalMs: number, streams: ThrottledStreams): LogQuota {
    if (perInterval <= 0) return { spend: () => true, dispose: () => undefined };
    const bucket: Bucket = {
      tokens: perInterval,
      lastRefill: this.now(),
      perInterval,
      intervalMs: Math.max(1, intervalMs),
      streams,
      throttled: false,
    };
    return {
      spend: (lines) => {
        this.refill(bucket);
        bucket.tokens -= lines;
        if (bucket.tokens > 0) return true;
        this.throttle(bucket);
        return false;
      },
      dispose: () => {
        this.throttled.delete(bucket);
        if (this.throttled.size === 0) this.stopTimer();
      },
    };
  }

  private refill(bucket: Bucket): void {
    const intervals = Math.floor((this.now() - bucket.lastRefill) / bucket.intervalMs);
    if (intervals <= 0) return;
    bucket.lastRefill += intervals * bucket.intervalMs;
    // A bucket holds at most one interval's worth: idle time is not a license to flood.
    bucket.tokens = Math.min(bucket.perInterval, bucket.tokens + intervals * bucket.perInterval);
  }

  private throttle(bucket: Bucket): void {
    if (!bucket.throttled) {
      bucket.throttled = true;
      this.throttleEvents++;
      bucket.streams.pause();
      this.throttled.add(bucket);
    }
    this.schedule(this.readyAt(bucket));
  }

  /** When the bucket's tokens will be positive again. */
  private readyAt(bucket: Bucket): number {
    const intervalsNeeded = Math.floor(-bucket.tokens / bucket.perInterval) + 1;
    return bucket.lastRefill + intervalsNeeded * bucket.intervalMs;
  }

  private schedule(at: number): void {
    if (this.timer && at >= this.timerAt) return;
    this.stopTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - this.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    let next = Infinity;
    for (const bucket of this.throttled) {
      this.refill(bucket);
      if (bucket.tokens > 0) {
        bucket.throttled = false;
        this.throttled.delete(bucket);
        bucket.streams.resume();
      } else {
        next = Math.min(next, this.readyAt(bucket));
      }
    }
    if (next < Infinity) this.schedule(next);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
